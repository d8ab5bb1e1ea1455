// `npm run bench:controller`: controller latencies against the real kube-apiserver of the test
// environment, with the controller as real processes at its default leader-election timings
// (15 s / 10 s / 2 s). Prints a table and writes bench/results/controller.json. Figures are
// printed, not asserted. Targets (issue 4): apply → Deployment ≤ 1 s; lag → scale ≤ one lag
// poll interval + 1 s; failover ≤ lease + 1.2 × retry (17.4 s) after SIGKILL — expiry counts from
// the candidate's own observation of the Lease, as in client-go — and ≤ 2 s after SIGTERM.
//
// Needs: `npm run build` and `eval "$(npm run -s testenv -- up)"` (KUBECONFIG, VF_TESTENV_BIN).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Deployment } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { API_VERSION, paths } from '../controller/api-types.js';
import { deploymentName } from '../controller/deployment.js';
import { createKubeClient, type KubeClient } from '../controller/kube.js';
import { keys } from '../core/keys.js';
import { freePort, waitForPort } from '../testing/ports.js';
import { startRedis } from '../testing/redis-server.js';
import { KubeConfig } from '@kubernetes/client-node';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
const controllerEntry = path.join(root, 'dist', 'controller', 'main.js');
const LAG_POLL_MS = 1000;

if (!process.env.KUBECONFIG || !process.env.VF_TESTENV_BIN) {
  console.error('bench:controller needs the test kube-apiserver: run `eval "$(npm run -s testenv -- up)"` first (sets KUBECONFIG and VF_TESTENV_BIN).');
  process.exit(2);
}

const kc = new KubeConfig();
kc.loadFromFile(process.env.KUBECONFIG);
const kube: KubeClient = createKubeClient(kc);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(fn: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, median_ms: s[Math.floor((s.length - 1) / 2)] ?? NaN, max_ms: s.at(-1) ?? NaN };
};

const ns = `vf-bench-${Date.now().toString(36)}`;
const redisServer = await startRedis();
const redis = new Redis(redisServer.url);
const procs: ChildProcess[] = [];

async function startController(name: string): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, [controllerEntry], {
    env: { ...process.env, REDIS_URL: redisServer.url, POD_NAME: name, POD_NAMESPACE: ns, VF_WATCH_NAMESPACE: ns, VF_LAG_POLL_MS: String(LAG_POLL_MS), METRICS_PORT: String(port), METRICS_HOST: '127.0.0.1', LOG_LEVEL: 'warn',
      // Workers need a shared store, else the controller refuses to make their Deployments.
      VF_WORKER_MONGODB_URL: process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017/vendorfetch' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  procs.push(child);
  await waitForPort(port, 15_000);
  return { child, port };
}
const leads = async (port: number) => /^vendorfetch_controller_leader 1$/m.test(await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()));
const holder = async () =>
  (await kube.request<{ spec?: { holderIdentity?: string } }>({ method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/vendorfetch-controller` })).spec?.holderIdentity;
const deployment = (name: string) => kube.request<V1Deployment>({ method: 'GET', path: paths.deployment(ns, deploymentName(name)) });
const createPool = (name: string, spec: unknown) =>
  kube.request({ method: 'POST', path: paths.pools(ns), body: { apiVersion: API_VERSION, kind: 'VendorPool', metadata: { name, namespace: ns }, spec } });

const results: Record<string, unknown> = {};
try {
  await kube.request({ method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
  const a = await startController('bench-a');
  await until(() => leads(a.port), 30_000);

  // 1. apply → Deployment
  const apply: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    await createPool(`apply-${i}`, { vendors: [{ name: `bench-apply-${i}`, url: 'http://127.0.0.1:9101/fetch', quota: { requestsPerSecond: 10 } }] });
    await until(() => deployment(`apply-${i}`), 10_000);
    apply.push(Date.now() - t0);
  }
  results.apply_to_deployment = stats(apply);

  // 2. lag → scale (window 0 so both directions follow the lag directly)
  await createPool('lag', { vendors: [{ name: 'bench-lag', url: 'http://127.0.0.1:9101/fetch', quota: { requestsPerSecond: 10 } }], workers: { minReplicas: 1, maxReplicas: 5, targetLagPerReplica: 10, scaleDownStabilizationSeconds: 0 } });
  await until(async () => (await deployment('lag')).spec?.replicas === 1, 10_000);
  const up: number[] = [];
  const down: number[] = [];
  // Wait a random part of a poll interval first: right after a scale the controller reconciles
  // again (the Deployment changed), which would make the next change look instant.
  const settle = () => sleep(1500 + Math.random() * LAG_POLL_MS);
  for (let i = 0; i < 5; i++) {
    await settle();
    const p = redis.pipeline();
    for (let j = 0; j < 45; j++) p.xadd(keys.stream('bench-lag', 'normal'), '*', 'id', String(j));
    let t0 = Date.now();
    await p.exec();
    await until(async () => (await deployment('lag')).spec?.replicas === 5, 15_000);
    up.push(Date.now() - t0);
    await settle();
    t0 = Date.now();
    await redis.del(keys.stream('bench-lag', 'normal'));
    await until(async () => (await deployment('lag')).spec?.replicas === 1, 15_000);
    down.push(Date.now() - t0);
  }
  results.lag_to_scale_up = { ...stats(up), poll_interval_ms: LAG_POLL_MS };
  results.lag_to_scale_down = { ...stats(down), poll_interval_ms: LAG_POLL_MS };

  // 3. failover after SIGKILL (lease must expire: ~lease duration + up to two retry periods)
  const b = await startController('bench-b');
  await sleep(4000);
  let t0 = Date.now();
  a.child.kill('SIGKILL');
  await until(async () => (await holder()) === 'bench-b' && (await leads(b.port)), 40_000, 20);
  results.failover_after_sigkill_ms = Date.now() - t0;

  // 4. failover after SIGTERM (the leader releases the lease)
  const c = await startController('bench-c');
  await sleep(4000);
  t0 = Date.now();
  b.child.kill('SIGTERM');
  await until(async () => (await holder()) === 'bench-c' && (await leads(c.port)), 20_000, 20);
  results.failover_after_sigterm_ms = Date.now() - t0;

  // Clean up while a leader still runs, so the finalizers are removed.
  const list = await kube.request<{ items: Array<{ metadata: { name: string } }> }>({ method: 'GET', path: paths.pools(ns) });
  for (const p of list.items) await kube.request({ method: 'DELETE', path: paths.pool(ns, p.metadata.name) }).catch(() => {});
  await until(async () => (await kube.request<{ items: unknown[] }>({ method: 'GET', path: paths.pools(ns) })).items.length === 0, 15_000).catch(() => {});
} finally {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? undefined : new Promise((r) => p.once('exit', r)))));
  // Best effort: without kube-controller-manager the namespace stays Terminating.
  await kube.request({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` }).catch(() => {});
  redis.disconnect();
  await redisServer.stop();
}

const out = { ...results, timings: { lease_ms: 15_000, renew_deadline_ms: 10_000, retry_ms: 2_000, lag_poll_ms: LAG_POLL_MS }, at: new Date().toISOString() };
await mkdir(path.join(root, 'bench', 'results'), { recursive: true });
await writeFile(path.join(root, 'bench', 'results', 'controller.json'), `${JSON.stringify(out, null, 2)}\n`);
const s = (x: unknown) => x as { median_ms: number; max_ms: number };
console.log(`
controller benchmark (kube-apiserver ${kube.server}, defaults 15 s / 10 s / 2 s, lag poll ${LAG_POLL_MS} ms)
| measure                    | median    | max       | target            |
|----------------------------|-----------|-----------|-------------------|
| apply → Deployment         | ${String(s(results.apply_to_deployment).median_ms).padStart(6)} ms | ${String(s(results.apply_to_deployment).max_ms).padStart(6)} ms | ≤ 1000 ms         |
| lag → scale up             | ${String(s(results.lag_to_scale_up).median_ms).padStart(6)} ms | ${String(s(results.lag_to_scale_up).max_ms).padStart(6)} ms | ≤ ${LAG_POLL_MS + 1000} ms         |
| lag → scale down (win. 0)  | ${String(s(results.lag_to_scale_down).median_ms).padStart(6)} ms | ${String(s(results.lag_to_scale_down).max_ms).padStart(6)} ms | ≤ ${LAG_POLL_MS + 1000} ms         |
| failover after SIGKILL     | ${String(results.failover_after_sigkill_ms).padStart(6)} ms |           | ≤ 17400 ms        |
| failover after SIGTERM     | ${String(results.failover_after_sigterm_ms).padStart(6)} ms |           | ≤ 2000 ms         |
written to bench/results/controller.json`);
