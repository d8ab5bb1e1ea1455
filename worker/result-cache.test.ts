// The result cache on real parts: in-process workers, a private redis-server, the SQLite store
// and the sync vendor mock (which counts every call it serves).
import { randomUUID } from 'node:crypto';
import type { Job, Priority } from '../core/job.js';
import { keys } from '../core/keys.js';
import { enqueue } from '../core/queue.js';
import { VendorRegistry } from '../core/registry.js';
import type { VendorSpec } from '../core/vendorpool.js';
import { useRedisServer } from '../testing/use-redis-server.js';
import { FAST_WORKER_TIMINGS, startTestWorker, testVendorSpec, useCleanups, useSharedSyncMock, useTempJobStore } from '../testing/worker-harness.js';
import { SENSITIVE_VALUES } from '../vendor-mocks/index.js';
import { cacheHash } from './result-cache.js';

const server = useRedisServer();
const store = useTempJobStore('vf-cache-');
const cleanups = useCleanups();
const mock = useSharedSyncMock(); // after useCleanups(): knobs are reset once the test's workers are closed

const spec = (over: Record<string, unknown> = {}): VendorSpec =>
  testVendorSpec(`cache-${randomUUID().slice(0, 8)}`, mock.fetchUrl, { retry: { maxAttempts: 1, initialBackoffMs: 50, maxBackoffMs: 100 }, cache: { ttlSeconds: 60 }, ...over });

async function startWorker(vendors: VendorSpec[], pool = `test/${randomUUID().slice(0, 8)}`, publish = true) {
  const registry = new VendorRegistry(server.redis);
  if (publish) await registry.publish(pool, vendors);
  const { metrics } = await startTestWorker(
    { redis: server.redis, store, pool, cleanups },
    { options: { ...FAST_WORKER_TIMINGS, blockMs: 100, callbacks: { pollIntervalMs: 1000 } } },
  );
  const lookups = async (result: 'hit' | 'miss') =>
    (await metrics.cacheLookups.get()).values.filter((v) => v.labels.result === result).reduce((n, v) => n + v.value, 0);
  return { pool, lookups, registry };
}

async function submit(vendor: string, payload: unknown, priority: Priority = 'normal'): Promise<string> {
  const id = randomUUID();
  await store.create({ request_id: id, vendor, payload, priority, deadline_at: new Date(Date.now() + 30_000) }, new Date());
  await enqueue(server.redis, vendor, id, priority);
  return id;
}

/** Entries of a lane's stream delivered to a worker and not acknowledged yet. */
const unacked = async (vendor: string, lane: Priority) => {
  const summary = (await server.redis.xpending(keys.stream(vendor, lane), keys.group)) as [number, ...unknown[]];
  return Number(summary[0]);
};

async function finished(id: string, timeoutMs = 10_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const j = await store.get(id);
    if (j && (j.status === 'complete' || j.status === 'failed')) return j;
    if (Date.now() > deadline) throw new Error(`job ${id} did not finish; last seen ${JSON.stringify(j)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the same canonical payload (keys in another order) completes from the cache: no vendor call, attempts 0, from_cache, same cleaned result; hit and miss counted', async () => {
  const v = spec();
  const { lookups } = await startWorker([v]);
  const first = await finished(await submit(v.name, { company: 'acme', filters: { b: 2, a: 1 } }));
  expect(first).toMatchObject({ status: 'complete', attempts: 1 });
  expect(first.from_cache).toBeUndefined();
  const second = await finished(await submit(v.name, { filters: { a: 1, b: 2 }, company: 'acme' }));
  expect(second).toMatchObject({ status: 'complete', attempts: 0, from_cache: true });
  // The mock echoes the request (incl. its request_id), so the cached answer is the first job's, as stored.
  expect(second.result).toEqual(first.result);
  expect(mock.counters().requests).toBe(1);
  expect([await lookups('miss'), await lookups('hit')]).toEqual([1, 1]);

  // Another payload, or the same payload at a vendor without a cache: the vendor is called.
  await finished(await submit(v.name, { company: 'other' }));
  expect(mock.counters().requests).toBe(2);
  expect(await lookups('miss')).toBe(2);
});

test('the cached value is the cleaned answer, in Redis with the TTL', async () => {
  const v = spec({ cache: { ttlSeconds: 30 } });
  await startWorker([v]);
  await finished(await submit(v.name, { company: 'pii' }));
  const key = keys.cacheEntry(v.name, cacheHash(v, { company: 'pii' }));
  const raw = await server.redis.get(key);
  expect(raw).not.toBeNull();
  for (const s of SENSITIVE_VALUES) expect(raw).not.toContain(s);
  const ttl = await server.redis.ttl(key);
  expect(ttl).toBeGreaterThan(25);
  expect(ttl).toBeLessThanOrEqual(30);
});

test('hits use no quota: at 1 request/s, five cached jobs finish well within a second', async () => {
  const v = spec({ quota: { requestsPerSecond: 1, maxInFlight: 0 } });
  await startWorker([v]);
  await finished(await submit(v.name, { q: 'quota' }));
  const t0 = Date.now();
  const ids = await Promise.all(Array.from({ length: 5 }, () => submit(v.name, { q: 'quota' })));
  for (const id of ids) expect(await finished(id)).toMatchObject({ from_cache: true, attempts: 0 });
  expect(Date.now() - t0).toBeLessThan(900);
  expect(mock.counters().requests).toBe(1);
});

test('after the TTL the vendor is called again', async () => {
  const v = spec({ cache: { ttlSeconds: 1 } });
  await startWorker([v]);
  await finished(await submit(v.name, { q: 'ttl' }));
  expect((await finished(await submit(v.name, { q: 'ttl' }))).from_cache).toBe(true);
  await new Promise((r) => setTimeout(r, 1200));
  expect((await finished(await submit(v.name, { q: 'ttl' }))).from_cache).toBeUndefined();
  expect(mock.counters().requests).toBe(2);
});

test('single flight across two workers: six identical jobs at once make one vendor call', async () => {
  mock.configure({ latencyMs: 300 });
  const v = spec();
  const a = await startWorker([v]);
  await startWorker([v], a.pool, false); // a second worker of the same pool
  const ids = await Promise.all(Array.from({ length: 6 }, () => submit(v.name, { q: 'flight' })));
  const jobs = await Promise.all(ids.map((id) => finished(id)));
  expect(jobs.every((j) => j.status === 'complete')).toBe(true);
  expect(jobs.filter((j) => j.from_cache === true)).toHaveLength(5);
  expect(mock.counters().requests).toBe(1);
});

test('a lock holder that died: the waiter takes over when its lease ends and calls the vendor once', async () => {
  const v = spec();
  await startWorker([v]);
  const lock = keys.cacheLock(v.name, cacheHash(v, { q: 'orphan' }));
  await server.redis.set(lock, 'a-dead-worker', 'PX', 600);
  const t0 = Date.now();
  const job = await finished(await submit(v.name, { q: 'orphan' }));
  expect(job).toMatchObject({ status: 'complete', attempts: 1 });
  expect(job.from_cache).toBeUndefined();
  expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
  expect(mock.counters().requests).toBe(1);
  // Released by its new holder right after the job's store write.
  let holder: string | null = 'unset';
  for (let i = 0; i < 50 && holder !== null; i++) {
    holder = await server.redis.get(lock);
    if (holder !== null) await new Promise((r) => setTimeout(r, 20));
  }
  expect(holder).toBeNull();
});

test('a failed call caches nothing: the next identical job calls the vendor', async () => {
  mock.configure({ errorRate: 1 });
  const v = spec();
  await startWorker([v]);
  expect((await finished(await submit(v.name, { q: 'fails' }))).status).toBe('failed');
  mock.configure({ errorRate: 0 });
  const next = await finished(await submit(v.name, { q: 'fails' }));
  expect(next).toMatchObject({ status: 'complete', attempts: 1 });
  expect(mock.counters().requests).toBe(2);
});

test('a vendor without a cache calls the vendor for every identical job', async () => {
  const v = spec({ cache: undefined });
  await startWorker([v]);
  for (let i = 0; i < 2; i++) expect((await finished(await submit(v.name, { q: 'plain' }))).from_cache).toBeUndefined();
  expect(mock.counters().requests).toBe(2);
});

test('priority lanes: jobs of every lane complete from the cache, each entry acknowledged in its own lane', async () => {
  const v = spec();
  await startWorker([v]);
  await finished(await submit(v.name, { q: 'lanes' }, 'low'));
  const hits = await Promise.all((['high', 'normal', 'low'] as const).map((lane) => submit(v.name, { q: 'lanes' }, lane)));
  for (const id of hits) expect(await finished(id)).toMatchObject({ status: 'complete', attempts: 0, from_cache: true });
  expect((await Promise.all(hits.map((id) => store.get(id)))).map((j) => j?.priority)).toEqual(['high', 'normal', 'low']);
  expect(mock.counters().requests).toBe(1);
  let left = -1;
  for (let i = 0; i < 50 && left !== 0; i++) {
    left = (await Promise.all((['high', 'normal', 'low'] as const).map((lane) => unacked(v.name, lane)))).reduce((a, b) => a + b, 0);
    if (left !== 0) await new Promise((r) => setTimeout(r, 20));
  }
  expect(left).toBe(0);
});

test('a cancelled job is never completed from the cache: it stays cancelled, its entry is dropped', async () => {
  const v = spec();
  await startWorker([v]);
  await finished(await submit(v.name, { q: 'cancel' }));
  const id = randomUUID();
  await store.create({ request_id: id, vendor: v.name, payload: { q: 'cancel' }, priority: 'high', deadline_at: new Date(Date.now() + 30_000) }, new Date());
  expect(await store.cancel(id, new Date())).toBe(true);
  const entryId = await enqueue(server.redis, v.name, id, 'high');
  // Wait until a worker has read the entry (the group's last-delivered-id) and acknowledged it.
  const delivered = async () => {
    const groups = (await server.redis.xinfo('GROUPS', keys.stream(v.name, 'high'))) as unknown[][];
    const fields = groups[0] ?? [];
    return fields[fields.indexOf('last-delivered-id') + 1] === entryId;
  };
  for (let i = 0; i < 100 && !((await delivered()) && (await unacked(v.name, 'high')) === 0); i++) await new Promise((r) => setTimeout(r, 20));
  expect(await delivered()).toBe(true);
  const job = await store.get(id);
  expect(job?.status).toBe('cancelled');
  expect(job?.from_cache).toBeUndefined();
  expect(job?.result).toBeUndefined();
  expect(await unacked(v.name, 'high')).toBe(0);
});

test('paused while waiting for another worker\'s call: the entry goes back to its own lane, the job untouched', async () => {
  const v = spec();
  const { pool, registry } = await startWorker([v]);
  await server.redis.set(keys.cacheLock(v.name, cacheHash(v, { q: 'paused' })), 'another-worker', 'PX', 60_000);
  const id = await submit(v.name, { q: 'paused' }, 'low');
  // The worker reads the entry and waits on the other worker's lock.
  for (let i = 0; i < 100 && (await unacked(v.name, 'low')) === 0; i++) await new Promise((r) => setTimeout(r, 20));
  expect(await unacked(v.name, 'low')).toBe(1);
  await registry.publish(pool, [{ ...v, paused: true }]);
  let ids: string[] = [];
  for (let i = 0; i < 100; i++) {
    const entries = await server.redis.xrange(keys.stream(v.name, 'low'), '-', '+');
    ids = entries.map(([, fields]) => fields[1]!);
    if (ids.length === 2 && (await unacked(v.name, 'low')) === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(ids).toEqual([id, id]); // handed back: a new entry in the low lane, the old one acknowledged
  expect(await unacked(v.name, 'low')).toBe(0);
  for (const lane of ['high', 'normal'] as const) expect(await server.redis.xlen(keys.stream(v.name, lane))).toBe(0);
  expect(await store.get(id)).toMatchObject({ status: 'pending', attempts: 0, priority: 'low' });
  expect(mock.counters().requests).toBe(0);
});
