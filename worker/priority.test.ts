// Priority lanes under a saturated quota, with real parts only: a private redis-server, the
// SQLite store, the api over HTTP (POST /jobs with `priority`), the worker with its real quota
// gate, and the sync mock of vendor-mocks/ enforcing a strict rolling-second limit equal to the
// quota. Every job is queued while the vendor is paused, so all three lanes are full when the
// worker starts calling: from then on the quota, not the queue, is the bottleneck.
import { randomUUID } from 'node:crypto';
import type { Priority } from '../core/job.js';
import { keys } from '../core/keys.js';
import { VendorRegistry } from '../core/registry.js';
import type { VendorSpec } from '../core/vendorpool.js';
import { everyJobIs, FAST_WORKER_TIMINGS, startSyncMockForTest, submitJob, testVendorSpec, useServicesAndApi, waitFor } from '../testing/worker-harness.js';
import type { WorkerMetrics } from './metrics.js';

const env = useServicesAndApi();
/** The worker's pending timeout: long enough that no sweep re-queues a job during the run. */
const PENDING_TIMEOUT_MS = 60_000;

const RPS = 20;
const spec = (name: string, url: string, paused: boolean): VendorSpec =>
  testVendorSpec(name, url, { timeoutSeconds: 5, quota: { requestsPerSecond: RPS, burst: RPS, maxInFlight: 0 }, paused });

// The vendor's own strict limit is the quota: one call too many is a counted violation.
const syncMock = () => startSyncMockForTest(env.cleanups, { limitPerSecond: RPS });

async function startWorker(pool: string): Promise<WorkerMetrics> {
  return (await env.startWorker(pool, { options: { ...FAST_WORKER_TIMINGS, visibilityTimeoutMs: 5000, pendingTimeoutMs: PENDING_TIMEOUT_MS } })).metrics;
}

const submit = (vendor: string, priority: Priority) => submitJob(env.api.base, { vendor, priority, payload: { q: 1 } });

async function getJob(id: string): Promise<{ status: string; priority: Priority }> {
  const res = await fetch(`${env.api.base}/jobs/${id}`);
  return (await res.json()) as { status: string; priority: Priority };
}

const LANES: Priority[] = ['high', 'normal', 'low'];
/** Expected read shares while all lanes have work (worker/lanes.ts), and the tolerance of the measure. */
const EXPECTED_SHARE: Record<Priority, number> = { high: 0.6, normal: 0.3, low: 0.1 };
const TOLERANCE = 0.1;

test('under a saturated quota high jobs finish first, and low ones still get their share (6:3:1) while all lanes have work', async () => {
  const mock = await syncMock();
  const vendor = `lanes-${randomUUID().slice(0, 8)}`;
  const pool = `lanes/${randomUUID().slice(0, 8)}`;
  const registry = new VendorRegistry(env.redis);
  await registry.publish(pool, [spec(vendor, mock.fetchUrl, true)]);
  await startWorker(pool);
  // A new pool's first sweep queues its pending jobs again (data-loss.ts); let it pass first.
  await waitFor("the pool's first data-loss check", async () => (await env.redis.get(keys.recoveredEpoch(pool))) !== null, 5000);

  // Low first, high last: the order of submission must not be what decides.
  const PER_LANE = 60;
  const lane = new Map<string, Priority>();
  for (const p of ['low', 'normal', 'high'] as const) for (let i = 0; i < PER_LANE; i++) lane.set(await submit(vendor, p), p);
  for (const p of LANES) expect(await env.redis.xlen(keys.stream(vendor, p))).toBe(PER_LANE);
  const [someHigh] = [...lane].find(([, p]) => p === 'high')!;
  expect(await getJob(someHigh)).toMatchObject({ status: 'pending', priority: 'high' });

  const resumedAt = Date.now();
  await registry.publish(pool, [spec(vendor, mock.fetchUrl, false)]);
  const done = await waitFor('every job to complete', async () => {
    const jobs = await Promise.all([...lane.keys()].map((id) => env.services.store.get(id)));
    return jobs.every((j) => j?.status === 'complete') ? jobs.map((j) => ({ lane: j!.priority, at: j!.completed_at!.getTime() })) : false;
  }, 60_000);

  const last = (p: Priority) => Math.max(...done.filter((d) => d.lane === p).map((d) => d.at));
  const mean = (p: Priority) => done.filter((d) => d.lane === p).reduce((n, d) => n + d.at - resumedAt, 0) / PER_LANE;
  // The window in which every lane had work: until the last high job finished.
  const window = done.filter((d) => d.at <= last('high'));
  const share = Object.fromEntries(LANES.map((p) => [p, window.filter((d) => d.lane === p).length / window.length])) as Record<Priority, number>;
  const c = mock.counters();
  console.log(
    `priority lanes at ${RPS}/s: shares while all lanes had work (${window.length} jobs, ${last('high') - resumedAt} ms): ` +
      LANES.map((p) => `${p} ${(share[p] * 100).toFixed(1)} % (expected ${EXPECTED_SHARE[p] * 100} ± ${TOLERANCE * 100})`).join(', ') +
      `; last finished after ${LANES.map((p) => `${p} ${last(p) - resumedAt} ms`).join(', ')}; mean ${LANES.map((p) => `${p} ${Math.round(mean(p))} ms`).join(', ')}` +
      `; vendor max ${c.maxRateInAnyRollingSecond} calls in a rolling second`,
  );

  expect(last('high')).toBeLessThan(last('normal'));
  expect(last('normal')).toBeLessThan(last('low'));
  expect(mean('high')).toBeLessThan(mean('normal'));
  expect(mean('normal')).toBeLessThan(mean('low'));
  for (const p of LANES) expect(Math.abs(share[p] - EXPECTED_SHARE[p])).toBeLessThanOrEqual(TOLERANCE);
  expect(share.low).toBeGreaterThan(0.03); // never starved, even while high and normal are full
  // Saturated, within the quota, each job called once.
  expect(c.maxRateInAnyRollingSecond).toBeLessThanOrEqual(RPS);
  expect(c.violations).toBe(0);
  expect(c.served).toBe(3 * PER_LANE);
  expect(c.duplicateKeys).toBe(0);
}, 90_000);

test("a job's retry goes back into its own lane, and a lone low lane is served without waiting for the others", async () => {
  // The first call of each job fails (500); its retry goes back into the job's own lane.
  const mock = await startSyncMockForTest(env.cleanups, { failFirst: 1, failFirstPer: 'key' });
  const vendor = `lanes-${randomUUID().slice(0, 8)}`;
  const pool = `lanes/${randomUUID().slice(0, 8)}`;
  await new VendorRegistry(env.redis).publish(pool, [{ ...spec(vendor, mock.fetchUrl, false), retry: { maxAttempts: 3, initialBackoffMs: 300, maxBackoffMs: 300 } }]);
  await startWorker(pool);
  const ids = [await submit(vendor, 'low'), await submit(vendor, 'low')];
  await waitFor('both low jobs to complete on their retry', () => everyJobIs(env.services.store, ids, 'complete'), 15_000);
  for (const id of ids) expect(await env.services.store.get(id)).toMatchObject({ status: 'complete', attempts: 2, priority: 'low' });
  // Both calls of each went through the low lane only: nothing ever entered another lane's stream.
  expect(await env.redis.xlen(keys.stream(vendor, 'high'))).toBe(0);
  expect(await env.redis.xlen(keys.stream(vendor, 'normal'))).toBe(0);
}, 30_000);
