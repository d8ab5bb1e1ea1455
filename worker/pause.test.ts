// Pausing a vendor (spec.vendors[].paused), with real parts only: a private redis-server, the
// SQLite store, the api over HTTP, the worker with its real quota gate and sweeper, and the sync
// mock of vendor-mocks/ enforcing a strict rolling-second limit equal to the quota. The pause is
// published to the registry as the controller (or local mode) does.
import { randomUUID } from 'node:crypto';
import { keys } from '../core/keys.js';
import { VendorRegistry } from '../core/registry.js';
import type { VendorSpec } from '../core/vendorpool.js';
import { everyJobIs, FAST_WORKER_TIMINGS, sleep, startSyncMockForTest, submitJob, testVendorSpec, useServicesAndApi, waitFor } from '../testing/worker-harness.js';
import type { WorkerMetrics } from './metrics.js';

// Jobs are overdue one second after they are submitted: a paused vendor's jobs are overdue
// long before it is resumed, which is what the sweeper must not storm on.
const env = useServicesAndApi({ pendingTimeoutSeconds: 1 });
/** The worker's pending timeout: the sweeper's grace after a resume. */
const PENDING_TIMEOUT_MS = 3000;

const RPS = 5;
const spec = (name: string, url: string, paused: boolean): VendorSpec =>
  testVendorSpec(name, url, { timeoutSeconds: 5, quota: { requestsPerSecond: RPS, burst: RPS, maxInFlight: 0 }, paused });

// The vendor's own strict limit is the quota: one call too many is a counted violation.
const syncMock = () => startSyncMockForTest(env.cleanups, { limitPerSecond: RPS });

async function startWorker(pool: string): Promise<WorkerMetrics> {
  return (await env.startWorker(pool, { options: { ...FAST_WORKER_TIMINGS, visibilityTimeoutMs: 5000, pendingTimeoutMs: PENDING_TIMEOUT_MS } })).metrics;
}

const submit = (vendor: string) => submitJob(env.api.base, { vendor, payload: { q: 1 } });

async function getJob(id: string): Promise<{ status: string; attempts: number }> {
  const res = await fetch(`${env.api.base}/jobs/${id}`);
  return (await res.json()) as { status: string; attempts: number };
}

const gauge = async (m: WorkerMetrics, vendor: string) => (await m.vendorPaused.get()).values.find((v) => v.labels.vendor === vendor)?.value;
const sweptCount = async (m: WorkerMetrics, vendor: string) =>
  (await m.swept.get()).values.filter((v) => v.labels.vendor === vendor).reduce((n, v) => n + v.value, 0);

test('paused: nothing is called and overdue jobs wait untouched; resumed: all are drained once each, within the quota', async () => {
  const mock = await syncMock();
  const vendor = `paused-${randomUUID().slice(0, 8)}`;
  const pool = `pause/${randomUUID().slice(0, 8)}`;
  const registry = new VendorRegistry(env.redis);
  await registry.publish(pool, [spec(vendor, mock.fetchUrl, true)]);
  const metrics = await startWorker(pool);
  expect((await registry.get(vendor))?.spec.paused).toBe(true);
  // A new pool's first sweep queues its pending jobs again (data-loss.ts: a pool's first start
  // looks like a loss); let it pass first, so that any later entry or sweep is the pause's doing.
  await waitFor('the pool\'s first data-loss check', async () => (await env.redis.get(keys.recoveredEpoch(pool))) !== null, 5000);

  const N = 25;
  const ids: string[] = [];
  for (let i = 0; i < N; i++) ids.push(await submit(vendor)); // accepted while paused: they wait
  // Well past every job's deadline (1 s) and through many sweeps (every 200 ms).
  await sleep(2500);
  expect(mock.counters().requests).toBe(0);
  for (const id of ids) expect(await getJob(id)).toMatchObject({ status: 'pending', attempts: 0 });
  expect(await sweptCount(metrics, vendor)).toBe(0); // neither re-queued nor failed
  expect(await env.redis.xlen(keys.stream(vendor, 'normal'))).toBe(N); // no duplicate entries
  expect(await gauge(metrics, vendor)).toBe(1);

  const resumedAt = Date.now();
  await registry.publish(pool, [spec(vendor, mock.fetchUrl, false)]);
  await waitFor('every job to complete', () => everyJobIs(env.services.store, ids, 'complete'), 30_000);
  const drainMs = Date.now() - resumedAt;
  const c = mock.counters();
  console.log(`resume drained ${N} jobs in ${drainMs} ms; vendor saw at most ${c.maxRateInAnyRollingSecond} calls in a rolling second (quota ${RPS})`);
  expect(c.maxRateInAnyRollingSecond).toBeLessThanOrEqual(RPS);
  expect(c.violations).toBe(0);
  expect(c.served).toBe(N);
  expect(c.duplicateKeys).toBe(0);
  // At the quota, not below it by much: 25 calls at 5/s need at least 4 s after the first burst.
  expect(drainMs).toBeGreaterThanOrEqual(((N - RPS) / RPS) * 1000 - 200);
  for (const id of ids) expect(await env.services.store.get(id)).toMatchObject({ status: 'complete', attempts: 1 });
  expect(await gauge(metrics, vendor)).toBe(0);
}, 60_000);

test('a pause reaches jobs already waiting for quota: they are handed back uncalled, their attempt free, and finish after the resume', async () => {
  const mock = await syncMock();
  const vendor = `pausing-${randomUUID().slice(0, 8)}`;
  const pool = `pause/${randomUUID().slice(0, 8)}`;
  const registry = new VendorRegistry(env.redis);
  // One call per second: of the jobs started together, all but the first wait for their turn.
  const slow = { ...spec(vendor, mock.fetchUrl, false), quota: { requestsPerSecond: 1, burst: 1, maxInFlight: 0 } };
  await registry.publish(pool, [slow]);
  await startWorker(pool);
  const ids = [await submit(vendor), await submit(vendor), await submit(vendor), await submit(vendor)];
  await waitFor('the first call', () => mock.counters().requests >= 1);
  const waiting = ids.filter((id) => (mock.counters({ perKey: true }).perKey?.[id] ?? 0) === 0);
  expect(waiting.length).toBeGreaterThanOrEqual(2);
  await registry.publish(pool, [{ ...slow, paused: true }]);
  // Handed back: pending again, no call made; the attempt it counted is a free one.
  await waitFor('the waiting jobs to be handed back', () => everyJobIs(env.services.store, waiting, 'pending'), 5000);
  const callsAtPause = mock.counters().requests;
  await sleep(2500); // two more quota turns, had they still been waiting
  expect(mock.counters().requests).toBe(callsAtPause);
  for (const id of waiting) {
    expect(mock.counters({ perKey: true }).perKey?.[id] ?? 0).toBe(0);
    const job = await env.services.store.get(id);
    expect(job?.status).toBe('pending');
    expect(Number(await env.redis.hget(keys.freeCalls(vendor), id))).toBe(job?.attempts);
  }
  await registry.publish(pool, [slow]);
  await waitFor('every job to complete after the resume', () => everyJobIs(env.services.store, ids, 'complete'), 20_000);
  expect(mock.counters().duplicateKeys).toBe(0);
  expect(mock.counters().violations).toBe(0);
}, 40_000);
