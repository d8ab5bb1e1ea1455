// The sweeper against a real redis-server and the SQLite store (issue 10 item 1): each pool
// looks only at its own vendors' overdue jobs, reading no payloads; jobs of vendors that no
// pool serves show in a gauge and are failed, with a reason, after a configurable time.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { JobStore } from '../core/job.js';
import { keys } from '../core/keys.js';
import { createSqliteJobStore } from '../core/store/sqlite.js';
import { vendorSpecSchema, type VendorSpec } from '../core/vendorpool.js';
import { useRedisServer } from '../testing/use-redis-server.js';
import { createWorkerMetrics } from './metrics.js';
import { sweepOnce, UNSERVED_SWEEP_MS, type SweeperDeps } from './sweeper.js';

const server = useRedisServer();
let dir: string;
let store: JobStore;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vf-sweeper-'));
});
beforeEach(async () => {
  store = await createSqliteJobStore({ path: path.join(dir, `${randomUUID()}.db`) });
  await server.redis.flushall();
});
afterEach(async () => {
  await store.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const logger = pino({ level: 'silent' });
const spec = (name: string): VendorSpec => vendorSpecSchema.parse({ name, url: 'http://127.0.0.1:9/fetch', quota: { requestsPerSecond: 10 } });
const T = Date.parse('2026-06-01T12:00:00Z');

function deps(over: Partial<SweeperDeps> = {}): SweeperDeps {
  return {
    store,
    redis: server.redis,
    pool: `test/${randomUUID().slice(0, 8)}`,
    vendors: () => new Map([['mine', spec('mine')]]),
    registeredVendors: () => new Set(['mine', 'elsewhere']),
    pendingTimeoutMs: 60_000,
    intervalMs: 1000,
    metrics: createWorkerMetrics({ defaultMetrics: false }),
    logger,
    now: () => T,
    ...over,
  };
}

async function overdueJob(vendor: string, overdueMs: number): Promise<string> {
  const id = randomUUID();
  await store.create({ request_id: id, vendor, payload: { big: 'x'.repeat(100) }, deadline_at: new Date(T - overdueMs) }, new Date(T - overdueMs - 1000));
  return id;
}

test('1,000+ older overdue jobs of a vendor no pool serves do not hide this pool\'s own overdue job', async () => {
  await Promise.all(Array.from({ length: 1100 }, (_, i) => overdueJob('gone', 3_600_000 + i)));
  const mine = await overdueJob('mine', 5000);
  expect(await sweepOnce(deps({ unservedFailAfterMs: 0 }))).toBeGreaterThanOrEqual(1);
  const stream = await server.redis.xrange(keys.stream('mine', 'normal'), '-', '+');
  expect(stream.map(([, f]) => f[1])).toEqual([mine]);
  expect((await store.get(mine))?.deadline_at.getTime()).toBe(T + 60_000);
});

test('jobs of a vendor no pool serves: counted in a gauge; failed with a reason once unserved longer than configured', async () => {
  const old = await overdueJob('gone', 2 * 3_600_000);
  const recent = await overdueJob('gone', 60_000);
  const elsewhere = await overdueJob('elsewhere', 2 * 3_600_000); // served by another pool: not ours to touch
  const d = deps({ unservedFailAfterMs: 3_600_000 });
  await sweepOnce(d);
  const gauge = (await d.metrics.unservedJobs.get()).values;
  expect(gauge).toContainEqual(expect.objectContaining({ labels: { vendor: 'gone' }, value: 2 }));
  expect(gauge.find((v) => v.labels.vendor === 'elsewhere')).toBeUndefined();
  expect(await store.get(old)).toMatchObject({ status: 'failed', error: expect.stringMatching(/^vendor_unserved: no pool serves vendor "gone"/) });
  expect((await store.get(recent))?.status).toBe('pending');
  expect((await store.get(elsewhere))?.status).toBe('pending');
  expect(await server.redis.xlen(keys.deadLetter('gone'))).toBe(1);
});

test('unserved jobs are counted by one worker of all pools per period; another worker\'s stale figures are dropped', async () => {
  await overdueJob('gone', 60_000);
  let t = T;
  const first = deps({ now: () => t });
  const second = deps({ now: () => t }); // another pool's worker, sweeping in the same period
  await sweepOnce(first);
  await sweepOnce(second);
  const values = async (d: SweeperDeps) => (await d.metrics.unservedJobs.get()).values;
  expect(await values(first)).toContainEqual(expect.objectContaining({ labels: { vendor: 'gone' }, value: 1 }));
  expect(await values(second)).toEqual([]); // it did not count (no second scan of the store)
  // Long after, the second worker takes the count over; the first, not counting, drops its figures.
  t += 3 * UNSERVED_SWEEP_MS;
  await server.redis.del(keys.sweeperLock('_unserved'), keys.sweeperLock(first.pool), keys.sweeperLock(second.pool));
  await sweepOnce(second);
  await server.redis.del(keys.sweeperLock(first.pool));
  await sweepOnce(first);
  expect(await values(second)).toContainEqual(expect.objectContaining({ labels: { vendor: 'gone' }, value: 1 }));
  expect(await values(first)).toEqual([]);
});

test('nothing is failed as unserved while the registry is empty (Redis lost its data, not yet re-published)', async () => {
  const old = await overdueJob('gone', 2 * 3_600_000);
  await sweepOnce(deps({ unservedFailAfterMs: 1000, registeredVendors: () => new Set() }));
  expect((await store.get(old))?.status).toBe('pending');
});

test('an overdue job is queued again into its own priority lane', async () => {
  const id = randomUUID();
  await store.create({ request_id: id, vendor: 'mine', payload: {}, priority: 'low', deadline_at: new Date(T - 5000) }, new Date(T - 6000));
  expect(await sweepOnce(deps())).toBe(1);
  expect((await server.redis.xrange(keys.stream('mine', 'low'), '-', '+')).map(([, f]) => f[1])).toEqual([id]);
  expect(await server.redis.xlen(keys.stream('mine', 'normal'))).toBe(0);
});

test('holdPending (a paused vendor): its overdue pending jobs are left untouched, processing ones are judged as ever', async () => {
  const pending = await overdueJob('mine', 5000);
  const running = randomUUID();
  await store.create({ request_id: running, vendor: 'mine', payload: {}, deadline_at: new Date(T + 60_000) }, new Date(T - 10_000));
  await store.startAttempt(running, new Date(T - 1000), new Date(T - 9000)); // its worker died mid-call
  const d = deps({ holdPending: (vendor) => vendor === 'mine' });
  expect(await sweepOnce(d)).toBe(1);
  expect(await store.get(pending)).toMatchObject({ status: 'pending', deadline_at: new Date(T - 5000) }); // no write
  expect(await store.get(running)).toMatchObject({ status: 'pending', error: 'worker_lost' });
  expect((await server.redis.xrange(keys.stream('mine', 'normal'), '-', '+')).map(([, f]) => f[1])).toEqual([running]);
  expect((await d.metrics.swept.get()).values.map((v) => [v.labels.action, v.value])).toEqual([['retry', 1]]);
});
