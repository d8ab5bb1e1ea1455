// `npm run bench:cluster`: the chart on a real cluster, timed (printed, not asserted). Runs on the
// cluster e2e/cluster/run.sh brings up (`--bench`), in a namespace of its own:
//   helm install → every pod Ready; VendorPool apply → first worker pod Ready; lag → a new worker
//   pod Ready; leader pod deleted → new leader; end-to-end jobs/s through the api Service with 1,
//   2 and 4 worker pods against the sync mock with an unlimited quota (the scaling curve).
// The load runs inside the cluster (a pod next to the api), so kubectl port-forward is not what
// is measured.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT, apply, chartValues, clusterEnv, getJson, kubectl, kubectlResult, waitFor } from '../e2e/cluster/support.js';

const env = clusterEnv();
const RELEASE = 'vendorfetch';
const NS = `vf-bench-${Date.now().toString(36)}`;
const JOBS = Number(process.env.VF_BENCH_JOBS ?? 2000);
const CONCURRENCY = Number(process.env.VF_BENCH_CONCURRENCY ?? 64);
const image = `${env.image.repository}:${env.image.tag}`;
const results: [string, string][] = [];
/** Record a figure and print it at once (a later phase may fail; the earlier figures still show). */
const record = (what: string, value: string) => {
  results.push([what, value]);
  console.log(`  ${what.padEnd(62)} ${value}`);
};
const secs = (t: number) => (Date.now() - t) / 1000;

function helm(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(path.join(env.bin, 'helm'), [`--kubeconfig=${env.kubeconfig}`, '-n', NS, ...args], { timeout: 600_000 }, (err, out, stderr) =>
      err ? reject(new Error(`helm ${args[0]}: ${stderr || err.message}`)) : resolve(out),
    ),
  );
}

async function allPodsReady(): Promise<boolean> {
  const pods = (await getJson(['-n', NS, 'get', 'pods'])).items as any[];
  const running = pods.filter((p) => p.status?.phase !== 'Succeeded');
  return running.length > 0 && running.every((p) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
}

const readyWorkers = async (pool: string) => ((await getJson(['-n', NS, 'get', 'deployment', `${pool}-workers`])).status?.readyReplicas as number | undefined) ?? 0;

function pool(min: number, max: number, extra: object = {}) {
  return {
    apiVersion: 'vendorfetch.io/v1alpha1',
    kind: 'VendorPool',
    metadata: { name: 'bench' },
    spec: {
      vendors: [
        {
          name: 'sync',
          mode: 'sync',
          url: `http://${RELEASE}-mock-sync:9101/fetch`,
          timeoutSeconds: 10,
          // "Unlimited": far above what the pool can reach here.
          quota: { requestsPerSecond: 100000, burst: 10000, maxInFlight: 10000 },
        },
      ],
      workers: { minReplicas: min, maxReplicas: max, targetLagPerReplica: 100, scaleDownStabilizationSeconds: 600, concurrency: 50, ...extra },
    },
  };
}

/** A pod that submits `n` jobs with `c` in flight and polls until all complete; returns jobs/s. */
async function loadFromInside(name: string, n: number, c: number): Promise<{ jobsPerSecond: number; seconds: number; retried: number }> {
  const script = `
    const base = 'http://${RELEASE}-api:8080';
    const n = ${n}, c = ${c};
    const ids = []; let next = 0, retried = 0;
    const t0 = Date.now();
    const post = async () => { for (;;) { const i = next++; if (i >= n) return;
      let r;
      // 503 (the store is saturated): the api refused the job whole; count it and ask again.
      for (;;) { r = await fetch(base + '/jobs', { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'bench-' + i }, body: JSON.stringify({ vendor: 'sync', payload: { i } }) });
        if (r.status !== 503 && r.status !== 409) break; retried++; await r.text(); await new Promise((res) => setTimeout(res, 200)); }
      if (r.status !== 202) throw new Error('POST ' + r.status + ' ' + await r.text()); ids.push((await r.json()).request_id); } };
    const done = new Set();
    // GET failures while the store is saturated are retried by the next pass.
    const poll = async () => { while (done.size < n) { const pending = ids.filter((id) => !done.has(id)).slice(0, 200);
      if (!pending.length) { await new Promise((r) => setTimeout(r, 50)); continue; }
      await Promise.all(pending.map(async (id) => { const res = await fetch(base + '/jobs/' + id); if (res.status !== 200) { await res.text(); return; } const j = await res.json();
        if (j.status === 'complete') done.add(id); else if (j.status === 'failed') throw new Error('failed ' + id); }));
      await new Promise((r) => setTimeout(r, 100)); } };
    Promise.all([Promise.all(Array.from({ length: c }, post)), poll()]).then(() => {
      const s = (Date.now() - t0) / 1000; console.log(JSON.stringify({ jobsPerSecond: n / s, seconds: s, retried }));
    }, (e) => { console.error(e); process.exit(1); });`;
  await apply([{ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { restartPolicy: 'Never', containers: [{ name: 'load', image, imagePullPolicy: 'Never', args: ['node', '-e', script] }] } }], NS);
  await waitFor(`load pod ${name}`, 600_000, async () => {
    const phase = (await getJson(['-n', NS, 'get', 'pod', name])).status?.phase;
    if (phase === 'Failed') throw Object.assign(new Error(await kubectl(['-n', NS, 'logs', name])), { fatal: true });
    return phase === 'Succeeded';
  });
  return JSON.parse((await kubectl(['-n', NS, 'logs', name])).trim().split('\n').pop()!);
}

async function main(): Promise<void> {
  let t = Date.now();
  await helm(['install', RELEASE, path.join(REPO_ROOT, 'charts', 'vendorfetch'), '--create-namespace', ...chartValues()]);
  await waitFor('every pod Ready', 600_000, allPodsReady);
  record('helm install → every pod Ready', `${secs(t).toFixed(1)} s`);

  t = Date.now();
  await apply([pool(1, 1)], NS);
  await waitFor('first worker pod Ready', 300_000, async () => (await readyWorkers('bench')) >= 1);
  record('VendorPool apply → first worker pod Ready', `${secs(t).toFixed(1)} s`);

  // Lag: a slow vendor and 600 jobs against a pool allowed to grow to 2.
  await kubectl(['-n', NS, 'exec', `deploy/${RELEASE}-mocks`, '--', 'node', '-e', `fetch('http://127.0.0.1:9101/_config',{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify({latencyMs:2000})}).then(r=>process.exit(r.ok?0:1))`]);
  await apply([pool(1, 2)], NS);
  t = Date.now();
  await kubectl(['-n', NS, 'exec', `deploy/${RELEASE}-mocks`, '--', 'node', '-e', `Promise.all(Array.from({length:600},(_, i)=>fetch('http://${RELEASE}-api:8080/jobs',{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify({vendor:'sync',payload:{i}})}))).then(()=>0)`]);
  await waitFor('a second worker pod Ready', 300_000, async () => (await readyWorkers('bench')) >= 2);
  record('lag (600 jobs queued) → a new worker pod Ready', `${secs(t).toFixed(1)} s`);
  await kubectl(['-n', NS, 'exec', `deploy/${RELEASE}-mocks`, '--', 'node', '-e', `fetch('http://127.0.0.1:9101/_config',{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify({latencyMs:0})}).then(r=>process.exit(r.ok?0:1))`]);
  await waitFor('the lag to drain', 300_000, async () => (await getJson(['-n', NS, 'get', 'vendorpool', 'bench'])).status?.lag === 0);

  const leader = (await getJson(['-n', NS, 'get', 'lease', `${RELEASE}-controller`])).spec.holderIdentity as string;
  t = Date.now();
  await kubectl(['-n', NS, 'delete', 'pod', leader, '--wait=false']);
  await waitFor('a new leader', 120_000, async () => {
    const holder = (await getJson(['-n', NS, 'get', 'lease', `${RELEASE}-controller`])).spec.holderIdentity;
    return holder && holder !== leader;
  });
  record('leader pod deleted → new leader', `${secs(t).toFixed(1)} s`);

  const curve: string[] = [];
  for (const workers of [1, 2, 4]) {
    await apply([pool(workers, workers)], NS);
    await waitFor(`${workers} worker pods Ready`, 300_000, async () => (await readyWorkers('bench')) === workers);
    const r = await loadFromInside(`load-${workers}`, JOBS, CONCURRENCY);
    curve.push(`${workers}: ${r.jobsPerSecond.toFixed(0)} jobs/s`);
    record(`end-to-end, ${workers} worker pod${workers > 1 ? 's' : ''} (${JOBS} jobs, ${CONCURRENCY} in flight)`, `${r.jobsPerSecond.toFixed(1)} jobs/s (${r.seconds.toFixed(1)} s, ${r.retried} POSTs answered 503 and retried)`);
  }

  console.log(`\ncluster benchmark (${process.env.VF_CLUSTER_PROVIDER ?? 'local'} provider, ${image}, 2-core machine)`);
  for (const [what, value] of results) console.log(`  ${what.padEnd(62)} ${value}`);
  console.log(`  scaling curve: ${curve.join(', ')}`);
}

try {
  await main();
} finally {
  await kubectlResult(['-n', NS, 'delete', 'vendorpools', '--all', '--timeout=60s']);
  await helm(['uninstall', RELEASE, '--wait', '--timeout', '2m']).catch(() => undefined);
  await kubectlResult(['delete', 'namespace', NS, '--wait=false']);
  await kubectlResult(['delete', 'crd', 'vendorpools.vendorfetch.io', '--wait=false']);
}
