// Pausing a vendor (spec.vendors[].paused), with real parts only: a private redis-server, the
// SQLite store, the api over HTTP, the worker with its real quota gate and sweeper, and the sync
// mock of vendor-mocks/ enforcing a strict rolling-second limit equal to the quota. The pause is
// published to the registry as the controller (or local mode) does.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { keys } from '../core/keys.js';
import { RegistryView, VendorRegistry } from '../core/registry.js';
import { vendorSpecSchema, type VendorSpec } from '../core/vendorpool.js';
import { postJson, startApi, startServices, type TestApi, type TestServices } from '../testing/api-app.js';
import { startSyncMock, type SyncMock } from '../vendor-mocks/index.js';
import { createWorkerMetrics, type WorkerMetrics } from './metrics.js';
import { createQuotaGate } from './quota.js';
import { createWorker } from './worker.js';

let s: TestServices;
let api: TestApi;
let redis: Redis;
const cleanups: Array<() => Promise<void>> = [];
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
/** The worker's pending timeout: the sweeper's grace after a resume. */
const PENDING_TIMEOUT_MS = 3000;

beforeAll(async () => {
  s = await startServices();
  // Jobs are overdue one second after they are submitted: a paused vendor's jobs are overdue
  // long before it is resumed, which is what the sweeper must not storm on.
  api = await startApi(s, { pendingTimeoutSeconds: 1 });
  redis = new Redis(s.redisServer.url);
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
afterAll(async () => {
  redis?.disconnect();
  await api?.close();
  await s?.close();
});

const RPS = 5;
function spec(name: string, url: string, paused: boolean): VendorSpec {
  return vendorSpecSchema.parse({
    name,
    url,
    timeoutSeconds: 5,
    quota: { requestsPerSecond: RPS, burst: RPS, maxInFlight: 0 },
    retry: { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 1000 },
    circuitBreaker: { consecutiveFailures: 100, halfOpenAfterSeconds: 1 },
    paused,
  });
}

async function syncMock(): Promise<SyncMock> {
  // The vendor's own strict limit is the quota: one call too many is a counted violation.
  const mock = await startSyncMock({ host: '127.0.0.1', port: 0, limitPerSecond: RPS });
  cleanups.push(() => mock.close());
  return mock;
}

async function startWorker(pool: string): Promise<WorkerMetrics> {
  const subscriber = redis.duplicate();
  const view = new RegistryView(new VendorRegistry(redis), subscriber, 200);
  const quota = createQuotaGate(redis);
  const metrics = createWorkerMetrics({ defaultMetrics: false });
  const worker = createWorker({
    redis,
    registry: view,
    store: s.store,
    quota,
    pool,
    concurrency: 10,
    metrics,
    logger,
    options: { visibilityTimeoutMs: 5000, blockMs: 200, pendingTimeoutMs: PENDING_TIMEOUT_MS, sweepIntervalMs: 200, promoteIntervalMs: 50, backlogIntervalMs: 200, drainTimeoutMs: 2000 },
  });
  await worker.run();
  cleanups.push(async () => {
    await worker.close();
    await quota.close();
    subscriber.disconnect();
  });
  return metrics;
}

async function submit(vendor: string): Promise<string> {
  for (let tries = 0; ; tries++) {
    const res = await postJson(`${api.base}/jobs`, { vendor, payload: { q: 1 } });
    if (res.status === 202) return ((await res.json()) as { request_id: string }).request_id;
    if (res.status !== 422 || tries > 50) throw new Error(`POST /jobs → ${res.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function getJob(id: string): Promise<{ status: string; attempts: number }> {
  const res = await fetch(`${api.base}/jobs/${id}`);
  return (await res.json()) as { status: string; attempts: number };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const gauge = async (m: WorkerMetrics, vendor: string) => (await m.vendorPaused.get()).values.find((v) => v.labels.vendor === vendor)?.value;
const sweptCount = async (m: WorkerMetrics, vendor: string) =>
  (await m.swept.get()).values.filter((v) => v.labels.vendor === vendor).reduce((n, v) => n + v.value, 0);

test('paused: nothing is called and overdue jobs wait untouched; resumed: all are drained once each, within the quota', async () => {
  const mock = await syncMock();
  const vendor = `paused-${randomUUID().slice(0, 8)}`;
  const pool = `pause/${randomUUID().slice(0, 8)}`;
  const registry = new VendorRegistry(redis);
  await registry.publish(pool, [spec(vendor, mock.fetchUrl, true)]);
  const metrics = await startWorker(pool);
  expect((await registry.get(vendor))?.spec.paused).toBe(true);
  // A new pool's first sweep queues its pending jobs again (data-loss.ts: a pool's first start
  // looks like a loss); let it pass first, so that any later entry or sweep is the pause's doing.
  await waitFor('the pool\'s first data-loss check', async () => (await redis.get(keys.recoveredEpoch(pool))) !== null, 5000);

  const N = 25;
  const ids: string[] = [];
  for (let i = 0; i < N; i++) ids.push(await submit(vendor)); // accepted while paused: they wait
  // Well past every job's deadline (1 s) and through many sweeps (every 200 ms).
  await sleep(2500);
  expect(mock.counters().requests).toBe(0);
  for (const id of ids) expect(await getJob(id)).toMatchObject({ status: 'pending', attempts: 0 });
  expect(await sweptCount(metrics, vendor)).toBe(0); // neither re-queued nor failed
  expect(await redis.xlen(keys.stream(vendor, 'normal'))).toBe(N); // no duplicate entries
  expect(await gauge(metrics, vendor)).toBe(1);

  const resumedAt = Date.now();
  await registry.publish(pool, [spec(vendor, mock.fetchUrl, false)]);
  await waitFor('every job to complete', async () => {
    for (const id of ids) if ((await s.store.get(id))?.status !== 'complete') return false;
    return true;
  }, 30_000);
  const drainMs = Date.now() - resumedAt;
  const c = mock.counters();
  console.log(`resume drained ${N} jobs in ${drainMs} ms; vendor saw at most ${c.maxRateInAnyRollingSecond} calls in a rolling second (quota ${RPS})`);
  expect(c.maxRateInAnyRollingSecond).toBeLessThanOrEqual(RPS);
  expect(c.violations).toBe(0);
  expect(c.served).toBe(N);
  expect(c.duplicateKeys).toBe(0);
  // At the quota, not below it by much: 25 calls at 5/s need at least 4 s after the first burst.
  expect(drainMs).toBeGreaterThanOrEqual(((N - RPS) / RPS) * 1000 - 200);
  for (const id of ids) expect(await s.store.get(id)).toMatchObject({ status: 'complete', attempts: 1 });
  expect(await gauge(metrics, vendor)).toBe(0);
}, 60_000);

test('a pause reaches jobs already waiting for quota: they are handed back uncalled, their attempt free, and finish after the resume', async () => {
  const mock = await syncMock();
  const vendor = `pausing-${randomUUID().slice(0, 8)}`;
  const pool = `pause/${randomUUID().slice(0, 8)}`;
  const registry = new VendorRegistry(redis);
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
  await waitFor('the waiting jobs to be handed back', async () => {
    for (const id of waiting) if ((await s.store.get(id))?.status !== 'pending') return false;
    return true;
  }, 5000);
  const callsAtPause = mock.counters().requests;
  await sleep(2500); // two more quota turns, had they still been waiting
  expect(mock.counters().requests).toBe(callsAtPause);
  for (const id of waiting) {
    expect(mock.counters({ perKey: true }).perKey?.[id] ?? 0).toBe(0);
    const job = await s.store.get(id);
    expect(job?.status).toBe('pending');
    expect(Number(await redis.hget(keys.freeCalls(vendor), id))).toBe(job?.attempts);
  }
  await registry.publish(pool, [slow]);
  await waitFor('every job to complete after the resume', async () => {
    for (const id of ids) if ((await s.store.get(id))?.status !== 'complete') return false;
    return true;
  }, 20_000);
  expect(mock.counters().duplicateKeys).toBe(0);
  expect(mock.counters().violations).toBe(0);
}, 40_000);
