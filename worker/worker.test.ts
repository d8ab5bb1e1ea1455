// The worker against real parts: a private redis-server, the SQLite store in a temp folder, the
// real quota gate, and a tiny vendor HTTP server whose answers each test scripts.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { useRedisServer } from '../testing/use-redis-server.js';
import { FAST_WORKER_TIMINGS, publishVendors, settledValue, startTestWorker, testVendorSpec, useCleanups, useTempJobStore, waitFor } from '../testing/worker-harness.js';
import type { Job } from '../core/job.js';
import { keys } from '../core/keys.js';
import { enqueue, ensureGroup, readNew } from '../core/queue.js';
import { VendorRegistry } from '../core/registry.js';
import type { VendorSpec } from '../core/vendorpool.js';
import { startProbeServer } from '../core/probe-server.js';
import type { WorkerMetrics } from './metrics.js';
import { createQuotaGate } from './quota.js';
import type { Worker, WorkerOptions } from './worker.js';

// ---- a scripted vendor -------------------------------------------------------------------

interface VendorCall {
  at: number;
  body: { request_id: string; payload: unknown; callback_url?: string };
}
type Answer = { status: number; headers?: Record<string, string>; body?: unknown; delayMs?: number };

interface FakeVendor {
  url: string;
  calls: VendorCall[];
  answer: (call: VendorCall, n: number) => Answer;
  close(): Promise<void>;
}

async function startVendor(answer: FakeVendor['answer']): Promise<FakeVendor> {
  const v: Partial<FakeVendor> & { calls: VendorCall[] } = { calls: [], answer };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const call: VendorCall = { at: Date.now(), body: JSON.parse(raw) as VendorCall['body'] };
      v.calls.push(call);
      const a = v.answer!(call, v.calls.length);
      setTimeout(() => {
        res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
        res.end(a.body === undefined ? '' : JSON.stringify(a.body));
      }, a.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  v.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fetch`;
  v.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return v as FakeVendor;
}

// ---- harness -----------------------------------------------------------------------------

const server = useRedisServer();
const store = useTempJobStore('vf-worker-');
const cleanups = useCleanups();

const spec = testVendorSpec;

interface Running {
  worker: Worker;
  metrics: WorkerMetrics;
  pool: string;
  registry: VendorRegistry;
}

async function startWorker(
  vendors: VendorSpec[],
  opts: { concurrency?: number; options?: WorkerOptions; webhookBaseUrl?: string; pool?: string } = {},
): Promise<Running> {
  const { pool, registry } = await publishVendors(server.redis, vendors, opts.pool);
  const { worker, metrics } = await startTestWorker(
    { redis: server.redis, store, pool, cleanups },
    {
      concurrency: opts.concurrency ?? 10,
      ...(opts.webhookBaseUrl ? { webhookBaseUrl: opts.webhookBaseUrl } : {}),
      options: { ...FAST_WORKER_TIMINGS, visibilityTimeoutMs: 5000, pendingTimeoutMs: 3000, drainTimeoutMs: 3000, ...opts.options },
    },
  );
  return { worker, metrics, pool, registry };
}

async function submit(vendor: string, payload: unknown = { q: 1 }, pendingMs = 3000): Promise<string> {
  const id = randomUUID();
  await store.create({ request_id: id, vendor, payload, deadline_at: new Date(Date.now() + pendingMs) }, new Date());
  await enqueue(server.redis, vendor, id, 'normal');
  return id;
}

const finished = (id: string) =>
  waitFor(`job ${id} to finish`, async () => {
    const j = await store.get(id);
    return j && (j.status === 'complete' || j.status === 'failed') ? j : null;
  });

const vendorName = () => `v-${randomUUID().slice(0, 8)}`;

function use(v: FakeVendor): FakeVendor {
  cleanups.unshift(() => v.close()); // closed after the worker
  return v;
}

// ---- tests -------------------------------------------------------------------------------

describe('worker', () => {
  // Issue 10 item 2: the deadline was set before the quota wait, so a wait past it let the
  // sweeper give the job to a second worker, and both called the vendor.
  it('a quota wait longer than the job\'s deadline still makes one vendor call (deadline extended, attempt fenced)', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 200, body: { ok: true } })));
    const v = spec(name, vendor.url, { timeoutSeconds: 1 });
    // Two workers of the pool, so a re-queued entry has somewhere else to go.
    const options: WorkerOptions = { quotaWaitAllowanceMs: 200, callMarginMs: 0, sweepIntervalMs: 100, pendingTimeoutMs: 500 };
    const first = await startWorker([v], { options });
    await startWorker([v], { options, pool: first.pool });
    const gate = createQuotaGate(server.redis);
    cleanups.push(() => gate.close());
    await gate.pause(name, 3000); // as after a vendor's 429 with Retry-After: 3
    const id = await submit(name);
    const job = await finished(id);
    expect(job.status).toBe('complete');
    await new Promise((r) => setTimeout(r, 500)); // a second caller would have called by now
    expect(vendor.calls.filter((c) => c.body.request_id === id)).toHaveLength(1);
  });

  // Issue 10 item 5: retention existed in the store but nothing ran it.
  it('runs retention: finished jobs past their retention are deleted, old Idempotency-Keys freed, newer ones kept', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 200, body: {} })));
    const longAgo = new Date(Date.now() - 10 * 24 * 3600 * 1000);
    const oldDone = randomUUID();
    await store.create({ request_id: oldDone, vendor: name, payload: {}, deadline_at: new Date(Date.now() + 600_000) }, longAgo);
    await store.startAttempt(oldDone, new Date(Date.now() + 600_000), longAgo);
    await store.complete(oldDone, { a: 1 }, longAgo);
    const oldKeyed = randomUUID();
    await store.create({ request_id: oldKeyed, vendor: name, payload: {}, idempotency_key: `k-${oldKeyed}`, deadline_at: new Date(Date.now() + 600_000) }, new Date(Date.now() - 2 * 24 * 3600 * 1000));
    const recentDone = randomUUID();
    await store.create({ request_id: recentDone, vendor: name, payload: {}, idempotency_key: `k-${recentDone}`, deadline_at: new Date(Date.now() + 600_000) }, new Date());
    await store.startAttempt(recentDone, new Date(Date.now() + 600_000), new Date());
    await store.complete(recentDone, { a: 2 }, new Date());
    await startWorker([spec(name, vendor.url)], { options: { retentionIntervalMs: 100 } }); // defaults: 7 d jobs, 24 h keys
    await waitFor('old finished job deleted', async () => (await store.get(oldDone)) === null);
    const keyed = await waitFor('old key freed', async () => {
      const j = await store.get(oldKeyed);
      return j && j.idempotency_key === undefined ? j : null;
    });
    expect(keyed.status).toBe('pending'); // unfinished jobs are never deleted
    expect(await store.get(recentDone)).toMatchObject({ status: 'complete', idempotency_key: `k-${recentDone}` });
  });

  it('completes a sync job with the cleaned answer, once', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 200, body: { name: '  Alice ', password: 'hunter2', ssn: '123-45-6789', contact: { email: 'a@example.com', tags: [' x '] } } })));
    const { metrics } = await startWorker([spec(name, vendor.url, { cleaning: { drop: [], redact: ['email'] } })]);
    const id = await submit(name, { who: 'alice' });
    const job = await finished(id);
    expect(job.status).toBe('complete');
    expect(job.attempts).toBe(1);
    expect(job.result).toEqual({ name: 'Alice', ssn: '[REDACTED]', contact: { email: '[REDACTED]', tags: ['x'] } });
    expect(vendor.calls).toHaveLength(1);
    expect(vendor.calls[0]!.body).toEqual({ request_id: id, payload: { who: 'alice' } });
    expect((await metrics.jobsFinished.get()).values).toContainEqual(expect.objectContaining({ labels: { vendor: name, status: 'complete' }, value: 1 }));
    // Acknowledged: nothing left pending in the group.
    expect((await server.redis.xpending(keys.stream(name, 'normal'), keys.group))[0]).toBe(0);
  });

  it('retries a vendor that fails twice with growing backoff, then completes with attempts 3', async () => {
    const name = vendorName();
    const vendor = use(await startVendor((_c, n) => (n <= 2 ? { status: 503 } : { status: 200, body: { ok: true } })));
    await startWorker([spec(name, vendor.url, { retry: { maxAttempts: 5, initialBackoffMs: 200, maxBackoffMs: 5000 } })]);
    const job = await finished(await submit(name));
    expect(job).toMatchObject({ status: 'complete', attempts: 3, result: { ok: true } });
    const [a, b, c] = vendor.calls.map((x) => x.at);
    // Equal jitter: retry 1 waits 100..200 ms, retry 2 waits 200..400 ms.
    expect(b! - a!).toBeGreaterThanOrEqual(90);
    expect(c! - b!).toBeGreaterThanOrEqual(190);
  });

  it('fails the job with its last error and dead-letters it after maxAttempts', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 500 })));
    const { metrics } = await startWorker([spec(name, vendor.url, { retry: { maxAttempts: 3, initialBackoffMs: 20, maxBackoffMs: 50 } })]);
    const id = await submit(name);
    const job = await finished(id);
    expect(job).toMatchObject({ status: 'failed', attempts: 3, error: 'vendor_error: HTTP 500' });
    expect(vendor.calls).toHaveLength(3);
    const dead = await server.redis.xrange(keys.deadLetter(name), '-', '+');
    expect(dead.map(([, f]) => f)).toEqual([['id', id, 'error', 'vendor_error: HTTP 500', 'attempts', '3']]);
    expect((await metrics.deadLettered.get()).values[0]?.value).toBe(1);
    // Failed calls are counted by the vendor's status, like answered ones.
    expect((await metrics.vendorCalls.get()).values).toContainEqual(expect.objectContaining({ labels: { vendor: name, code: '500' }, value: 3 }));
  });

  it('fails a request the vendor refuses (4xx) at once, without retrying', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 422, body: { error: 'bad' } })));
    await startWorker([spec(name, vendor.url)]);
    const job = await finished(await submit(name));
    expect(job).toMatchObject({ status: 'failed', attempts: 1, error: 'vendor_rejected: HTTP 422' });
    expect(vendor.calls).toHaveLength(1);
    expect(await server.redis.xlen(keys.deadLetter(name))).toBe(1);
  });

  it('times a slow vendor out and retries it', async () => {
    const name = vendorName();
    const vendor = use(await startVendor((_c, n) => (n === 1 ? { status: 200, body: { late: true }, delayMs: 1500 } : { status: 200, body: { fast: true } })));
    await startWorker([spec(name, vendor.url, { timeoutSeconds: 1 })]);
    const job = await finished(await submit(name));
    expect(job).toMatchObject({ status: 'complete', attempts: 2, result: { fast: true } });
  });

  it('opens the breaker after consecutive failures: jobs wait without burning attempts, then complete', async () => {
    const name = vendorName();
    let healthyFrom = Infinity;
    const vendor = use(
      await startVendor((_c, n) => {
        if (n <= 2) return { status: 503 };
        if (!Number.isFinite(healthyFrom)) healthyFrom = Date.now();
        return { status: 200, body: { n } };
      }),
    );
    // maxAttempts 2: a job that burned an attempt while the breaker was open would fail.
    await startWorker([spec(name, vendor.url, { retry: { maxAttempts: 2, initialBackoffMs: 50, maxBackoffMs: 100 }, circuitBreaker: { consecutiveFailures: 2, halfOpenAfterSeconds: 1 } })], {
      concurrency: 1,
    });
    const ids = [await submit(name), await submit(name), await submit(name), await submit(name)];
    expect(await settledValue(() => server.redis.get(keys.circuit(name)), (c) => c === 'open')).toBe('open');
    const jobs = await Promise.all(ids.map(finished));
    expect(jobs.map((j) => j.status)).toEqual(['complete', 'complete', 'complete', 'complete']);
    // 2 failures + 4 answers: nobody called the vendor while the breaker was open.
    expect(vendor.calls).toHaveLength(6);
    expect(vendor.calls[2]!.at - vendor.calls[1]!.at).toBeGreaterThanOrEqual(950);
    expect(await settledValue(() => server.redis.get(keys.circuit(name)), (c) => c === 'closed')).toBe('closed');
  });

  it('slows down on 429 + Retry-After without burning attempts', async () => {
    const name = vendorName();
    const vendor = use(await startVendor((_c, n) => (n <= 2 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200, body: { ok: 1 } })));
    // maxAttempts 1: any 429 counted as a failure would fail the job.
    await startWorker([spec(name, vendor.url, { retry: { maxAttempts: 1, initialBackoffMs: 10, maxBackoffMs: 10 } })]);
    const job = await finished(await submit(name));
    expect(job).toMatchObject({ status: 'complete', result: { ok: 1 } });
    expect(job.attempts).toBe(3); // attempts counts vendor calls; the two 429s were free
    expect(vendor.calls[1]!.at - vendor.calls[0]!.at).toBeGreaterThanOrEqual(950);
    expect(vendor.calls[2]!.at - vendor.calls[1]!.at).toBeGreaterThanOrEqual(950);
    // Forgotten once the job finished (just after the store write, hence the wait).
    expect(await settledValue(() => server.redis.hgetall(keys.freeCalls(name)), (h) => Object.keys(h).length === 0)).toEqual({});
  });

  it('reclaims an entry that a dead consumer read but never acknowledged', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 200, body: { ok: true } })));
    await ensureGroup(server.redis, name);
    const id = await submit(name);
    const dead = server.redis.duplicate();
    const taken = await readNew(dead, name, 'normal', 'dead-consumer', 10);
    dead.disconnect();
    expect(taken.entries.map((e) => e.requestId)).toEqual([id]);
    const { metrics } = await startWorker([spec(name, vendor.url)], { options: { visibilityTimeoutMs: 400 } });
    const job = await finished(id);
    expect(job.status).toBe('complete');
    // The pool's first-start recovery may have queued the job too and finished it first; the
    // dead consumer's entry is still reclaimed (and acknowledged) within the timeout.
    expect(await settledValue(async () => (await metrics.reclaimed.get()).values[0]?.value, (n) => n === 1)).toBe(1);
    expect(await settledValue(async () => (await server.redis.xpending(keys.stream(name, 'normal'), keys.group))[0], (n) => n === 0)).toBe(0);
    expect(vendor.calls).toHaveLength(1);
  });

  // Issue 10 item 13: a killed worker's claimed jobs waited the whole 30 s visibility timeout
  // (and then their deadline). Its liveness key lapses within seconds: reclaim then.
  it('a dead worker\'s started job is reclaimed and finished within seconds, not after the 30 s visibility timeout', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 200, body: { ok: true } })));
    await ensureGroup(server.redis, name);
    const id = await submit(name, { q: 1 }, 120_000);
    const dead = server.redis.duplicate();
    expect((await readNew(dead, name, 'normal', 'dead-worker', 10)).entries.map((e) => e.requestId)).toEqual([id]);
    dead.disconnect();
    // It had started the call (processing, deadline 60 s ahead) when it died.
    expect(await store.startAttempt(id, new Date(Date.now() + 60_000), new Date())).not.toBeNull();
    const started = Date.now();
    await startWorker([spec(name, vendor.url)], { options: { visibilityTimeoutMs: 30_000 } });
    const job = await finished(id);
    expect(job.status).toBe('complete');
    expect(Date.now() - started).toBeLessThan(8000);
    expect((await server.redis.xpending(keys.stream(name, 'normal'), keys.group))[0]).toBe(0);
  });

  it('priority lanes: a dead worker\'s high-lane entry is taken over in its lane; data-loss recovery re-queues a job into its own lane', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 200, body: { ok: true } })));
    await ensureGroup(server.redis, name);
    const far = () => new Date(Date.now() + 120_000);
    const high = randomUUID();
    await store.create({ request_id: high, vendor: name, payload: {}, priority: 'high', deadline_at: far() }, new Date());
    await enqueue(server.redis, name, high, 'high');
    const dead = server.redis.duplicate();
    expect((await readNew(dead, name, 'high', 'dead-worker', 10)).entries.map((e) => [e.requestId, e.lane])).toEqual([[high, 'high']]);
    dead.disconnect();
    expect(await store.startAttempt(high, new Date(Date.now() + 60_000), new Date())).not.toBeNull(); // it died mid-call
    const started = Date.now();
    const { metrics, pool } = await startWorker([spec(name, vendor.url)], { options: { visibilityTimeoutMs: 30_000, pendingTimeoutMs: 120_000 } });
    expect((await finished(high)).status).toBe('complete');
    expect(Date.now() - started).toBeLessThan(8000); // the dead consumer's high-lane PEL was taken over
    expect((await server.redis.xpending(keys.stream(name, 'high'), keys.group))[0]).toBe(0);
    expect((await metrics.reclaimed.get()).values.find((v) => v.labels.vendor === name)?.value).toBe(1);

    // Redis "lost" a low job's entry (only the store has it); a new epoch makes the pool recover.
    await waitFor("the pool's first data-loss check", async () => (await server.redis.get(keys.recoveredEpoch(pool))) !== null);
    const low = randomUUID();
    await store.create({ request_id: low, vendor: name, payload: {}, priority: 'low', deadline_at: far() }, new Date());
    await server.redis.set(keys.epoch, `lost-${randomUUID()}`);
    expect((await finished(low)).status).toBe('complete');
    // Delivered through the low lane's group and no other (the streams themselves may be trimmed by now).
    const lastDelivered = async (lane: 'high' | 'normal' | 'low') => {
      const group = ((await server.redis.xinfo('GROUPS', keys.stream(name, lane))) as unknown[][])[0]!;
      return String(group[group.indexOf('last-delivered-id') + 1]);
    };
    expect(await lastDelivered('low')).not.toBe('0-0');
    expect(await lastDelivered('normal')).toBe('0-0');
    expect(vendor.calls.filter((c) => c.body.request_id === low)).toHaveLength(1);
  });

  it('async: the job stays processing after 202, is retried on callback timeout, then fails with callback_timeout', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 202, body: { accepted: true } })));
    const s = spec(name, vendor.url, {
      mode: 'async',
      callbackTimeoutSeconds: 1,
      webhookSecretRef: { name: 'hook', key: 'secret' },
      retry: { maxAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 10 },
    });
    await startWorker([s], { webhookBaseUrl: 'http://127.0.0.1:8080/' });
    const id = await submit(name);
    const processing = await waitFor('processing after 202', async () => {
      const j = await store.get(id);
      return j?.status === 'processing' && vendor.calls.length === 1 ? j : null;
    });
    expect(processing.deadline_at.getTime()).toBeGreaterThan(Date.now() + 500);
    expect(vendor.calls[0]!.body.callback_url).toBe(`http://127.0.0.1:8080/vendor-webhook/${name}`);
    const job = await finished(id);
    expect(job).toMatchObject({ status: 'failed', error: 'callback_timeout', attempts: 2 });
    expect(vendor.calls).toHaveLength(2);
    expect(vendor.calls[1]!.at - vendor.calls[0]!.at).toBeGreaterThanOrEqual(950);
    expect(await server.redis.xlen(keys.deadLetter(name))).toBe(1);
  });

  it('async: a webhook that completed the job meanwhile wins; the sweeper leaves it alone', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 202 })));
    const s = spec(name, vendor.url, { mode: 'async', callbackTimeoutSeconds: 1, webhookSecretRef: { name: 'hook', key: 'secret' } });
    await startWorker([s]);
    const id = await submit(name);
    await waitFor('processing', async () => (await store.get(id))?.status === 'processing' && vendor.calls.length === 1);
    // What the api does when the signed webhook arrives:
    expect(await store.complete(id, { from: 'webhook' }, new Date())).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await store.get(id)).toMatchObject({ status: 'complete', attempts: 1, result: { from: 'webhook' } });
    expect(vendor.calls).toHaveLength(1);
  });

  it('sweeps a stored job that never reached the queue', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 200, body: { ok: true } })));
    const { metrics } = await startWorker([spec(name, vendor.url)]);
    // After the pool's first-start recovery (a sweep or two), so only the deadline sweep can find it.
    await new Promise((r) => setTimeout(r, 500));
    const id = randomUUID();
    await store.create({ request_id: id, vendor: name, payload: {}, deadline_at: new Date(Date.now() - 1) }, new Date());
    expect((await finished(id)).status).toBe('complete');
    expect((await metrics.swept.get()).values).toContainEqual(expect.objectContaining({ labels: { vendor: name, action: 'requeue' } }));
  });

  it('follows the registry: starts and stops consuming as vendors come and go', async () => {
    const a = vendorName();
    const b = vendorName();
    const vendor = use(await startVendor(() => ({ status: 200, body: {} })));
    const { worker, registry, pool } = await startWorker([spec(a, vendor.url)]);
    expect(worker.vendors()).toEqual([a]);
    await registry.publish(pool, [spec(a, vendor.url), spec(b, vendor.url)]);
    await waitFor('vendor b consumed', async () => worker.vendors().includes(b));
    expect((await finished(await submit(b))).status).toBe('complete');
    await registry.publish(pool, [spec(b, vendor.url)]);
    await waitFor('vendor a dropped', async () => !worker.vendors().includes(a));
    // Another pool's vendor is never consumed.
    await new VendorRegistry(server.redis).publish('other/pool', [spec(vendorName(), vendor.url)]);
    await new Promise((r) => setTimeout(r, 400));
    expect(worker.vendors()).toEqual([b]);
    await new VendorRegistry(server.redis).removePool('other/pool');
  });

  it('shuts down gracefully: stops reading, finishes calls in flight, close() is idempotent', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 200, body: { slow: true }, delayMs: 600 })));
    const { worker } = await startWorker([spec(name, vendor.url)]);
    const ids = [await submit(name), await submit(name)];
    await waitFor('calls in flight', async () => vendor.calls.length === 2);
    const first = worker.close();
    expect(worker.close()).toBe(first);
    await first;
    for (const id of ids) expect(await store.get(id)).toMatchObject({ status: 'complete' });
    // Stopped reading: a new job stays in the stream.
    const late = await submit(name);
    await new Promise((r) => setTimeout(r, 400));
    expect((await store.get(late))?.status).toBe('pending');
    expect(vendor.calls).toHaveLength(2);
  });

  it('shuts down gracefully: jobs still waiting for quota are handed back and finished by the next worker', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 200, body: { ok: true } })));
    // 1 call per second: after the first call the other jobs wait for quota.
    const s = spec(name, vendor.url, { quota: { requestsPerSecond: 1, burst: 1, maxInFlight: 0 }, retry: { maxAttempts: 1, initialBackoffMs: 10, maxBackoffMs: 10 } });
    const { worker, pool } = await startWorker([s]);
    const ids = [await submit(name), await submit(name), await submit(name)];
    await waitFor('first call', async () => vendor.calls.length === 1);
    await worker.close();
    const after = await Promise.all(ids.map((id) => store.get(id)));
    const handedBack = after.filter((j) => j?.status === 'pending');
    expect(handedBack).toHaveLength(2);
    for (const j of handedBack) expect(j).toMatchObject({ error: 'worker_shutdown', attempts: 1 });
    expect((await server.redis.xpending(keys.stream(name, 'normal'), keys.group))[0]).toBe(0); // nothing left in a dead PEL
    // A new worker finishes them; the handed-back attempts were free (maxAttempts 1 still allows a call).
    await startWorker([s], { pool });
    const jobs = await Promise.all(ids.map(finished));
    expect(jobs.map((j) => j.status)).toEqual(['complete', 'complete', 'complete']);
    expect(vendor.calls).toHaveLength(3);
  });

  it('serves /metrics and /healthz', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 200, body: {} })));
    const { metrics } = await startWorker([spec(name, vendor.url)]);
    await finished(await submit(name));
    const probes = await startProbeServer({ port: 0, host: '127.0.0.1', registry: metrics.registry });
    cleanups.push(() => probes.close());
    const text = await (await fetch(`http://127.0.0.1:${probes.port}/metrics`)).text();
    expect(text).toContain(`vendorfetch_jobs_finished_total{vendor="${name}",status="complete"} 1`);
    expect(text).toContain(`vendorfetch_vendor_calls_total{vendor="${name}",code="200"} 1`);
    expect(text).toMatch(/vendorfetch_job_duration_seconds_count\{vendor="[^"]+",status="complete"\} 1/);
    expect(text).toContain('vendorfetch_quota_wait_seconds');
    // The breaker as a state-set: one series per state, the current one 1.
    expect(text).toContain(`vendorfetch_circuit_state{vendor="${name}",state="closed"} 1`);
    expect(text).toContain(`vendorfetch_circuit_state{vendor="${name}",state="open"} 0`);
    expect(text).toContain(`vendorfetch_circuit_state{vendor="${name}",state="half-open"} 0`);
    expect(text).toMatch(new RegExp(`^vendorfetch_quota_requests_per_second\\{vendor="${name}"\\} \\d+$`, 'm'));
    await waitFor('lag gauge', async () => (await metrics.streamLag.get()).values.some((v) => v.labels.vendor === name));
    expect((await fetch(`http://127.0.0.1:${probes.port}/healthz`)).status).toBe(200);
  });

  // Last: it wipes the whole Redis.
  it('survives FLUSHALL mid-run: group re-created, registry republished, pending jobs re-queued from the store, all complete', async () => {
    const name = vendorName();
    const vendor = use(await startVendor(() => ({ status: 200, body: { ok: true }, delayMs: 20 })));
    const s = spec(name, vendor.url);
    // Deadlines far ahead: only the data-loss recovery (not the deadline sweep) can bring the jobs back in time.
    const { registry, pool, metrics } = await startWorker([s], { concurrency: 3, options: { pendingTimeoutMs: 120_000 } });
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(await submit(name, { i }, 120_000));
    await waitFor('some completions', async () => vendor.calls.length >= 5);
    await server.redis.flushall();
    // What the controller / local supervisor does by itself (level-triggered re-publish).
    await new Promise((r) => setTimeout(r, 300));
    await registry.publish(pool, [s]);
    const jobs = await Promise.all(ids.map(finished));
    expect(jobs.every((j: Job) => j.status === 'complete')).toBe(true);
    // The lost entries came back from the store through the recovery sweep.
    const recovered = (await metrics.swept.get()).values.find((v) => v.labels.vendor === name && v.labels.action === 'recover');
    expect(recovered?.value).toBeGreaterThan(0);
    // Each job's answer was stored once, even where a duplicate entry led to a second call.
    expect((await metrics.jobsFinished.get()).values.find((v) => v.labels.vendor === name)?.value).toBe(40);
    expect(await server.redis.xinfo('GROUPS', keys.stream(name, 'normal'))).toHaveLength(1);
  }, 30_000);

  // Issue 10 item 4: the epoch key is global, and only the worker that re-created it recovered
  // (only its own pool, from a flag in memory). Here the "winner" died before recovering: the
  // test itself sets the new epoch, as that worker would have before it was killed.
  it('after Redis lost its data, EVERY pool re-queues its own pending jobs, even when the worker that set the new epoch died', async () => {
    const [a, b] = [vendorName(), vendorName()];
    const vendor = use(await startVendor(() => ({ status: 200, body: { ok: true } })));
    const [sa, sb] = [spec(a, vendor.url), spec(b, vendor.url)];
    const options: WorkerOptions = { pendingTimeoutMs: 120_000 };
    const poolA = await startWorker([sa], { options });
    const poolB = await startWorker([sb], { options });
    await waitFor('both pools consuming', async () => poolA.worker.vendors().includes(a) && poolB.worker.vendors().includes(b));
    await new Promise((r) => setTimeout(r, 300)); // both have seen the first epoch
    // Jobs whose stream entries are lost with the data: in the store only, deadlines far ahead.
    const lost: string[] = [];
    for (const v of [a, b]) {
      const id = randomUUID();
      await store.create({ request_id: id, vendor: v, payload: {}, deadline_at: new Date(Date.now() + 120_000) }, new Date());
      lost.push(id);
    }
    await server.redis.flushall();
    await server.redis.set(keys.epoch, 'set-by-a-worker-that-then-died');
    await poolA.registry.publish(poolA.pool, [sa]); // the owners re-publish (level-triggered)
    await poolB.registry.publish(poolB.pool, [sb]);
    const jobs = await Promise.all(lost.map((id) => finished(id)));
    expect(jobs.map((j) => [j.vendor, j.status])).toEqual([
      [a, 'complete'],
      [b, 'complete'],
    ]);
  }, 30_000);
});
