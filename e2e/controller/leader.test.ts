// Leader election with real processes against the real kube-apiserver: two controllers
// (dist/controller/main.js) → exactly one leads; SIGKILL the leader → the other leads within
// the lease duration (see leader.ts on how expiry is counted); SIGTERM the leader → it
// releases the lease and the other leads within about one retry period. Short timings
// (lease 4 s / renew 3 s / retry 1 s) keep the suite quick; the bench uses the defaults.
import { spawn, type ChildProcess } from 'node:child_process';
import { pino } from 'pino';
import { createLeaderElector } from '../../controller/leader.js';
import type { KubeClient } from '../../controller/kube.js';
import { freePort, waitForPort } from '../../testing/ports.js';
import { useRedisServer } from '../../testing/use-redis-server.js';
import { compiledController, createNamespace, deleteNamespace, describeWithKube, haveCompiledController, until } from './support.js';

const { describe: withKube, env } = await describeWithKube();
const d = haveCompiledController() ? withKube : describe.skip;
const redisServer = useRedisServer();
if (!haveCompiledController()) console.warn(`SKIPPED (leader election): ${compiledController} is missing; run npm run build first`);

const LEASE_MS = 4000;
const RETRY_MS = 1000;

interface Proc {
  name: string;
  child: ChildProcess;
  port: number;
  exited: Promise<void>;
}

d('leader election (two controller processes, real Lease)', () => {
  let ns = '';
  const procs: Proc[] = [];

  beforeAll(async () => {
    ns = await createNamespace(env!.kube, 'vf-leader');
  });
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await deleteNamespace(env!.kube, ns);
  });

  async function startController(name: string): Promise<Proc> {
    const port = await freePort();
    const child = spawn(process.execPath, [compiledController], {
      env: {
        ...process.env,
        REDIS_URL: redisServer.url,
        POD_NAME: name,
        POD_NAMESPACE: ns,
        VF_WATCH_NAMESPACE: ns,
        VF_LEASE_DURATION_MS: String(LEASE_MS),
        VF_RENEW_DEADLINE_MS: '3000',
        VF_RETRY_PERIOD_MS: String(RETRY_MS),
        METRICS_PORT: String(port),
        METRICS_HOST: '127.0.0.1',
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const p = { name, child, port, exited };
    procs.push(p);
    await waitForPort(port, 15_000);
    return p;
  }

  const isLeader = async (p: Proc): Promise<boolean> => {
    const text = await fetch(`http://127.0.0.1:${p.port}/metrics`).then((r) => r.text());
    return /^vendorfetch_controller_leader 1$/m.test(text);
  };
  const holder = async (): Promise<string | undefined> => {
    const lease = await env!.kube.request<{ spec?: { holderIdentity?: string } }>({
      method: 'GET',
      path: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/vendorfetch-controller`,
    });
    return lease.spec?.holderIdentity || undefined;
  };

  test('exactly one leads; SIGKILL → the other within the lease duration; SIGTERM → hand-over in about 2 s', async () => {
    const a = await startController('ctrl-a');
    await until('a leads', () => isLeader(a), 10_000);
    const b = await startController('ctrl-b');
    await new Promise((r) => setTimeout(r, 2 * RETRY_MS + 500));
    expect(await isLeader(a)).toBe(true);
    expect(await isLeader(b)).toBe(false);
    expect(await holder()).toBe('ctrl-a');
    const health = await fetch(`http://127.0.0.1:${b.port}/healthz`);
    expect(health.status).toBe(200);

    // SIGKILL: no release; b must wait for the lease to expire on its own clock.
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await until('b leads after SIGKILL', async () => (await holder()) === 'ctrl-b' && (await isLeader(b)), LEASE_MS + 3 * RETRY_MS + 2000, 50);
    const killFailover = Date.now() - killedAt;
    // Within the lease duration plus b's read lag (expiry counts from when b SAW the last
    // renewal: up to one jittered retry period late) and request latency, and only after the
    // lease expired: the leader's last renewal was at most one retry period before the kill.
    expect(killFailover).toBeLessThanOrEqual(LEASE_MS + 1.2 * RETRY_MS + 500);
    expect(killFailover).toBeGreaterThanOrEqual(LEASE_MS - RETRY_MS - 300);

    // SIGTERM: b releases the lease; c takes it on its next retry.
    const c = await startController('ctrl-c');
    await new Promise((r) => setTimeout(r, RETRY_MS + 500));
    expect(await isLeader(c)).toBe(false);
    const termAt = Date.now();
    b.child.kill('SIGTERM');
    await until('c leads after SIGTERM', async () => (await holder()) === 'ctrl-c' && (await isLeader(c)), 5000, 50);
    const termFailover = Date.now() - termAt;
    expect(termFailover).toBeLessThanOrEqual(RETRY_MS * 1.2 + 1500);
    await b.exited;
    expect(b.child.exitCode).toBe(0);
    console.log(`leader failover: SIGKILL ${killFailover} ms (lease ${LEASE_MS} ms), SIGTERM ${termFailover} ms (retry ${RETRY_MS} ms)`);
  });

  test('invalid timings are refused at start-up with a clear message', async () => {
    const child = spawn(process.execPath, [compiledController], {
      env: { ...process.env, REDIS_URL: redisServer.url, VF_LEASE_DURATION_MS: '3000', VF_RENEW_DEADLINE_MS: '3000', VF_RETRY_PERIOD_MS: '1000', METRICS_PORT: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (x: Buffer) => (err += x.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(err).toContain('leaseDuration must be greater than renewDeadline');
  });
});

withKube('leader elector: losing the lease', () => {
  let ns = '';
  beforeAll(async () => {
    ns = await createNamespace(env!.kube, 'vf-lease');
  });
  afterAll(async () => {
    await deleteNamespace(env!.kube, ns);
  });

  test('a leader that cannot renew stops leading within the renew deadline', async () => {
    let broken = false;
    // The API server becomes unreachable for this process only.
    const kube: KubeClient = {
      server: env!.kube.server,
      request: (req) => (broken ? Promise.reject(new Error('injected: connection refused')) : env!.kube.request(req)),
    };
    let state: 'candidate' | 'leading' | 'lost' | 'released' = 'candidate';
    const elector = createLeaderElector({
      kube,
      namespace: ns,
      name: 'lease-loss',
      identity: 'lonely',
      logger: pino({ level: 'silent' }),
      leaseDurationMs: 3000,
      renewDeadlineMs: 2000,
      retryPeriodMs: 500,
      onStartedLeading: () => (state = 'leading'),
      onStoppedLeading: (reason) => (state = reason),
    });
    const done = elector.run();
    await until('leading', () => state === 'leading', 5000, 20);
    const brokeAt = Date.now();
    broken = true;
    await until('stopped leading', () => state === 'lost', 4000, 20);
    const after = Date.now() - brokeAt;
    expect(after).toBeLessThanOrEqual(2000 + 500 + 300);
    expect(after).toBeGreaterThanOrEqual(2000 - 600);
    expect(elector.isLeader()).toBe(false);
    await done;
    await elector.stop();
  });
});
