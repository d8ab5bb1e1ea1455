// Leader election under a slow or partitioned API server (issue 10, item 12): two electors on
// one Lease against the real kube-apiserver; elector A reaches it through a proxy that the test
// makes slow (every call succeeds, late) or deaf (calls hang), B directly. Both are sampled
// every 2 ms: at no instant may both believe they lead, and B must take over.
// Short timings keep the suite quick: lease 3 s > renew deadline 2.4 s > 1.2 × retry 0.5 s
// (a renew deadline close to the lease, as client-go's defaults are: 10 s of 15).
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { createKubeClient } from '../../controller/kube.js';
import { createLeaderElector, type LeaderElector, type LeaderTimings } from '../../controller/leader.js';
import { startFaultyProxy, type FaultyProxy, type ProxyMode } from './faulty-proxy.js';
import { createNamespace, deleteNamespace, describeWithKube, suffix, until } from './support.js';

const { describe: withKube, env } = await describeWithKube();

const TIMINGS: LeaderTimings = { leaseDurationMs: 3000, renewDeadlineMs: 2400, retryPeriodMs: 500 };
const SAMPLE_MS = 2;

/** The test environment's kubeconfig with its server replaced by `address` (host:port). */
function viaProxy(kc: KubeConfig, address: string): KubeConfig {
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: kc.getClusters().map((c) => ({ ...c, server: `https://${address}` })),
    users: kc.getUsers(),
    contexts: kc.getContexts(),
    currentContext: kc.getCurrentContext(),
  });
  return out;
}

/** Who believed they led, every SAMPLE_MS, and every instant at which both did. */
function sampleLeaders(a: LeaderElector, b: LeaderElector) {
  const both: number[] = [];
  const bLedAt: number[] = [];
  let aLastLed = 0;
  let samples = 0;
  const timer = setInterval(() => {
    samples++;
    const [la, lb] = [a.isLeader(), b.isLeader()];
    if (la && lb) both.push(Date.now());
    if (la) aLastLed = Date.now();
    if (lb) bLedAt.push(Date.now());
  }, SAMPLE_MS);
  return {
    both,
    aLastLed: () => aLastLed,
    bLed: () => bLedAt.length > 0,
    samples: () => samples,
    stop: () => clearInterval(timer),
  };
}

withKube('leader election: a slow or partitioned API server never gives two leaders', () => {
  let ns = '';
  let proxy: FaultyProxy;
  const electors: LeaderElector[] = [];

  beforeAll(async () => {
    ns = await createNamespace(env!.kube, 'vf-split');
    const server = new URL(env!.kube.server);
    proxy = await startFaultyProxy({ host: server.hostname, port: Number(server.port) });
  });
  afterEach(async () => {
    proxy.set({ kind: 'pass' });
    await Promise.all(electors.splice(0).map((e) => e.stop()));
  });
  afterAll(async () => {
    await proxy?.close();
    await deleteNamespace(env!.kube, ns);
  });

  function elector(identity: string, lease: string, kc: KubeConfig): LeaderElector {
    const e = createLeaderElector({
      kube: createKubeClient(kc),
      namespace: ns,
      name: lease,
      identity,
      logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
      ...TIMINGS,
      onStartedLeading: () => undefined,
      onStoppedLeading: () => undefined,
    });
    electors.push(e);
    void e.run();
    return e;
  }

  // A leads through the proxy; B waits; then the proxy turns `fault` on for A alone.
  async function failover(fault: ProxyMode) {
    const lease = `split-${suffix()}`;
    const a = elector('a-behind-proxy', lease, viaProxy(env!.kc, proxy.address));
    await until('A leads', () => a.isLeader(), 10_000, 10);
    const b = elector('b-direct', lease, env!.kc);
    await new Promise((r) => setTimeout(r, 3 * TIMINGS.retryPeriodMs));
    expect(b.isLeader()).toBe(false);
    const sampler = sampleLeaders(a, b);
    try {
      proxy.set(fault);
      const faultAt = Date.now();
      await until('B takes over', () => sampler.bLed(), 20_000, 10);
      const takeover = Date.now() - faultAt;
      // Keep watching a while: a leader that does not notice it lost would show up now.
      await new Promise((r) => setTimeout(r, 2 * TIMINGS.leaseDurationMs));
      sampler.stop();
      const overlapMs = sampler.both.length ? sampler.both.at(-1)! - sampler.both[0]! : 0;
      const aStopped = sampler.aLastLed() - faultAt;
      console.log(
        `${fault.kind}: A stopped leading ${aStopped} ms and B took over ${takeover} ms after the fault; ` +
          `${sampler.samples()} samples, ${sampler.both.length} with two leaders (${overlapMs} ms)`,
      );
      expect({ samplesWithTwoLeaders: sampler.both.length, overlapMs }).toEqual({ samplesWithTwoLeaders: 0, overlapMs: 0 });
      // On its own timer: its last successful renewal started before the fault.
      expect(aStopped).toBeLessThanOrEqual(TIMINGS.renewDeadlineMs + 10 * SAMPLE_MS);
      expect(a.isLeader()).toBe(false);
      expect(b.isLeader()).toBe(true);
    } finally {
      sampler.stop();
    }
  }

  test('every Lease call of the leader succeeds but late (400 ms each way): it steps down before the other takes over', async () => {
    await failover({ kind: 'delay', delayMs: 400 });
  }, 60_000);

  test('the leader is cut off (its Lease calls hang): it steps down on its own timer before the other takes over', async () => {
    await failover({ kind: 'blackhole' });
  }, 60_000);
});
