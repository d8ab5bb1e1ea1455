// Cancel racing a running worker, and dead-letter replays run by it, with real parts only: a private redis-server, the SQLite
// store, the api over HTTP (testing/api-app.ts, every answer checked against the OpenAPI
// document), the worker with its real quota gate, and the mock vendors of vendor-mocks/ as
// HTTP servers (the async one signs and posts real webhooks to the api). Each test uses
// vendors of its own, so quotas and counters never mix.
import { randomUUID } from 'node:crypto';
import type { VendorSpec } from '../core/vendorpool.js';
import { postJson, SECRET } from '../testing/api-app.js';
import { FAST_WORKER_TIMINGS, publishVendors, sleep, startSyncMockForTest, submitJob, testVendorSpec, useServicesAndApi, waitFor } from '../testing/worker-harness.js';
import { startAsyncMock, type AsyncMock, type SyncMock } from '../vendor-mocks/index.js';
import type { WorkerMetrics } from './metrics.js';

const ADMIN_KEY = 'replay-admin-key';
const env = useServicesAndApi({ adminApiKeys: [ADMIN_KEY] });

const vendorName = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

const spec = (name: string, url: string, over: Record<string, unknown> = {}): VendorSpec => testVendorSpec(name, url, { timeoutSeconds: 5, ...over });

const syncMock = (knobs: Parameters<typeof startSyncMockForTest>[1] = {}) => startSyncMockForTest(env.cleanups, knobs);

/** Publishes the vendors (the api follows the registry) without starting a worker for them. */
async function publish(vendors: VendorSpec[]): Promise<string> {
  return (await publishVendors(env.redis, vendors, `cancel/${randomUUID().slice(0, 8)}`)).pool;
}

async function startWorker(pool: string, concurrency = 10): Promise<WorkerMetrics> {
  const options = { ...FAST_WORKER_TIMINGS, visibilityTimeoutMs: 5000, pendingTimeoutMs: 5000, sweepIntervalMs: 500, backlogIntervalMs: 500 };
  return (await env.startWorker(pool, { concurrency, webhookBaseUrl: env.api.base, options })).metrics;
}

const submit = (vendor: string) => submitJob(env.api.base, { vendor, payload: { q: 1 } });

async function cancel(id: string): Promise<number> {
  const res = await fetch(`${env.api.base}/jobs/${id}/cancel`, { method: 'POST' });
  await res.arrayBuffer();
  return res.status;
}

const callsOf = (mock: SyncMock | AsyncMock, id: string) => mock.counters({ perKey: true }).perKey?.[id] ?? 0;
const statusOf = async (id: string) => (await env.services.store.get(id))?.status;
const counterValue = async (c: { get(): Promise<{ values: Array<{ value: number }> }> }) =>
  (await c.get()).values.reduce((sum, v) => sum + v.value, 0);

test('a pending job cancelled before any worker reads it is never sent to the vendor', async () => {
  const mock = await syncMock();
  const vendor = vendorName('cx-pending');
  const pool = await publish([spec(vendor, mock.fetchUrl)]);
  const cancelled = [await submit(vendor), await submit(vendor)];
  const kept = await submit(vendor);
  for (const id of cancelled) expect(await cancel(id)).toBe(200);
  await startWorker(pool);
  await waitFor('the kept job to complete', async () => (await statusOf(kept)) === 'complete');
  await sleep(300); // the cancelled jobs' entries were read before or after it: give them a moment
  for (const id of cancelled) {
    expect(await statusOf(id)).toBe('cancelled');
    expect(callsOf(mock, id)).toBe(0);
  }
  expect(mock.counters().requests).toBe(1);
  await waitFor('every entry acknowledged', async () => (await env.services.redis.xpending(`vf:{${vendor}}:jobs`, 'workers'))[0] === 0, 5000);
});

test('a job waiting for quota is never sent once cancelled, and its slot goes to the next job', async () => {
  const mock = await syncMock();
  const vendor = vendorName('cx-quota');
  // One call per second: of three jobs started together, two wait for their turn.
  const pool = await publish([spec(vendor, mock.fetchUrl, { quota: { requestsPerSecond: 1, burst: 1, maxInFlight: 0 } })]);
  const metrics = await startWorker(pool);
  const ids = [await submit(vendor), await submit(vendor), await submit(vendor)];
  await waitFor('the first call', () => mock.counters().requests >= 1);
  const [first] = ids.filter((id) => callsOf(mock, id) > 0);
  const waiting = ids.filter((id) => id !== first);
  expect(waiting).toHaveLength(2);
  // Both get started (processing, attempts 1) and sit in the quota wait, not sent. (The first
  // call can come before the worker has read the third entry: wait for the start, don't assume it.)
  await waitFor('both others started', async () => {
    for (const id of waiting) if ((await env.services.store.get(id))?.status !== 'processing') return false;
    return true;
  });
  for (const id of waiting) {
    expect(await env.services.store.get(id)).toMatchObject({ status: 'processing', attempts: 1 });
    expect(callsOf(mock, id)).toBe(0);
  }
  expect(await cancel(waiting[1]!)).toBe(200);
  await waitFor('the other waiting job to be sent', () => callsOf(mock, waiting[0]!) === 1, 5000);
  await waitFor('both uncancelled jobs complete', async () => (await statusOf(first!)) === 'complete' && (await statusOf(waiting[0]!)) === 'complete');
  await sleep(1500); // past the cancelled job's turn
  expect(callsOf(mock, waiting[1]!)).toBe(0);
  expect(mock.counters().requests).toBe(2);
  expect(await statusOf(waiting[1]!)).toBe('cancelled');
  expect(await counterValue(metrics.cancelledAnswersDropped)).toBe(0); // nothing was sent, nothing dropped
});

test('a job waiting for its retry is never sent again once cancelled', async () => {
  // The first call of each job fails (500); its retry waits 1.5 s in the delayed set.
  const mock = await syncMock({ failFirst: 1, failFirstPer: 'key' });
  const vendor = vendorName('cx-retry');
  const pool = await publish([spec(vendor, mock.fetchUrl, { retry: { maxAttempts: 3, initialBackoffMs: 1500, maxBackoffMs: 1500 } })]);
  await startWorker(pool);
  const id = await submit(vendor);
  const retried = await submit(vendor);
  await waitFor('both retries to be scheduled', async () => (await env.services.store.get(id))?.status === 'pending' && (await env.services.store.get(retried))?.status === 'pending' && callsOf(mock, retried) === 1);
  expect(await env.services.store.get(id)).toMatchObject({ status: 'pending', attempts: 1, error: expect.stringMatching(/^vendor_error/) });
  expect(await cancel(id)).toBe(200);
  await waitFor('the other job to complete on its retry', async () => (await statusOf(retried)) === 'complete', 10_000);
  await sleep(500);
  expect(callsOf(mock, id)).toBe(1);
  expect(callsOf(mock, retried)).toBe(2);
  expect(await env.services.store.get(id)).toMatchObject({ status: 'cancelled', attempts: 1 });
});

test('a call in flight when the job is cancelled: the answer is dropped and counted, the job stays cancelled', async () => {
  const mock = await syncMock({ latencyMs: 700 });
  const vendor = vendorName('cx-inflight');
  const pool = await publish([spec(vendor, mock.fetchUrl)]);
  const metrics = await startWorker(pool);
  const id = await submit(vendor);
  await waitFor('the call to be open at the vendor', () => mock.counters().inFlight === 1);
  expect(await cancel(id)).toBe(200);
  await waitFor('the dropped answer to be counted', async () => (await counterValue(metrics.cancelledAnswersDropped)) === 1, 5000);
  const job = await env.services.store.get(id);
  expect(job).toMatchObject({ status: 'cancelled', attempts: 1 });
  expect(job).not.toHaveProperty('result');
  expect(mock.counters().ok).toBe(1); // the vendor did answer
  expect(await counterValue(metrics.completionConflicts)).toBe(0); // told apart from a lost race
  expect(await counterValue(metrics.jobsFinished)).toBe(0);
  // Acknowledged (the ack follows the count), not retried: the entry leaves the pending list.
  await waitFor('the entry to be acknowledged', async () => (await env.services.redis.xpending(`vf:{${vendor}}:jobs`, 'workers'))[0] === 0, 5000);
  expect(await env.services.redis.zcard(`vf:{${vendor}}:delayed`)).toBe(0);
});

test('async vendor: cancelled while its 202 is on the way, then the signed webhook comes: changes nothing', async () => {
  // The vendor takes 500 ms to accept, then posts the signed answer 300 ms later.
  const mock = await startAsyncMock({ host: '127.0.0.1', port: 0, latencyMs: 500, delayMs: 300, webhookSecret: SECRET });
  env.cleanups.push(() => mock.close());
  const vendor = vendorName('cx-async');
  const pool = await publish([
    spec(vendor, mock.fetchUrl, { mode: 'async', callbackTimeoutSeconds: 60, webhookSecretRef: { name: 'slowco-webhook', key: 'secret' } }),
  ]);
  const metrics = await startWorker(pool);
  const inFlight = await submit(vendor);
  await waitFor('the call to be open at the vendor', () => mock.counters().inFlight === 1);
  expect(await cancel(inFlight)).toBe(200);

  // And one cancelled after the vendor accepted it (awaiting its webhook).
  const accepted = await submit(vendor);
  await waitFor('the vendor to accept the second job', () => mock.counters().accepted === 2);
  await waitFor('the worker to record the 202', async () => (await env.services.store.get(accepted))?.deadline_at.getTime()! > Date.now() + 30_000);
  expect(await cancel(accepted)).toBe(200);

  await waitFor('both webhooks delivered', () => mock.counters().webhooksSent === 2, 10_000);
  for (const id of [inFlight, accepted]) {
    const job = await env.services.store.get(id);
    expect(job).toMatchObject({ status: 'cancelled', attempts: 1 });
    expect(job).not.toHaveProperty('result');
  }
  const ignored = (await env.api.metrics.webhooks.get()).values.find((v) => v.labels.vendor === vendor && v.labels.result === 'ignored')?.value;
  expect(ignored).toBe(2);
  expect(await counterValue(metrics.cancelledAnswersDropped)).toBe(1); // the 202 that came back after the cancel
});

test('many cancels racing completions: each job ends exactly as its cancel was answered', async () => {
  const mock = await syncMock({ latencyMs: { min: 0, max: 60 } });
  const vendor = vendorName('cx-race');
  const pool = await publish([spec(vendor, mock.fetchUrl)]);
  const metrics = await startWorker(pool, 20);
  const ids = await Promise.all(Array.from({ length: 40 }, () => submit(vendor)));
  // Cancels spread over the time the worker needs: some before the call, some during, some after.
  const answers = await Promise.all(ids.map(async (id, i) => {
    await sleep((i * 7) % 120);
    return cancel(id);
  }));
  await waitFor('every job finished', async () => {
    const statuses = await Promise.all(ids.map(statusOf));
    return statuses.every((st) => st === 'complete' || st === 'cancelled');
  });
  await sleep(300); // answers of calls still open when their job was cancelled
  let cancelledAfterCall = 0;
  for (const [i, id] of ids.entries()) {
    const job = (await env.services.store.get(id))!;
    if (answers[i] === 200) {
      expect(job.status).toBe('cancelled');
      expect(job).not.toHaveProperty('result');
      if (callsOf(mock, id) > 0) cancelledAfterCall++;
    } else {
      expect(answers[i]).toBe(409);
      expect(job.status).toBe('complete');
    }
    expect(callsOf(mock, id)).toBeLessThanOrEqual(1);
  }
  expect(answers.filter((a) => a === 200).length).toBeGreaterThan(0);
  // Every call whose job was cancelled had its answer dropped and counted — none stored.
  const dropped = async () => counterValue(metrics.cancelledAnswersDropped);
  await waitFor(`${cancelledAfterCall} dropped answers counted`, async () => (await dropped()) >= cancelledAfterCall, 5000).catch(() => undefined);
  expect(await dropped()).toBe(cancelledAfterCall);
  expect(await counterValue(metrics.completionConflicts)).toBe(0);
});

describe('dead-letter replay, run by the worker', () => {
  test('a replayed job gets a fresh attempt budget: it is retried again, and completes', async () => {
    // Every job's first three calls fail (500). With maxAttempts 2 the job dies after call 2;
    // replayed, call 3 fails and is retried (1 of a fresh 2), call 4 succeeds.
    const mock = await syncMock({ failFirst: 3, failFirstPer: 'key' });
    const vendor = vendorName('dl-budget');
    const pool = await publish([spec(vendor, mock.fetchUrl, { retry: { maxAttempts: 2, initialBackoffMs: 50, maxBackoffMs: 50 } })]);
    const metrics = await startWorker(pool);
    const id = await submit(vendor);
    await waitFor('the job to die', async () => (await statusOf(id)) === 'failed');
    expect(await env.services.store.get(id)).toMatchObject({ attempts: 2, error: expect.stringMatching(/^vendor_error/) });
    // The worker counts a dead letter right after its store write: the poll can see the store first.
    await waitFor('the dead letter to be counted', async () => (await counterValue(metrics.deadLettered)) === 1, 5000);

    const listed = (await (await fetch(`${env.api.base}/vendors/${vendor}/dead-letters`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json()) as {
      dead_letters: Array<{ request_id: string; reason: string; attempts: number }>;
    };
    expect(listed.dead_letters).toEqual([expect.objectContaining({ request_id: id, reason: 'vendor_error', attempts: 2 })]);

    const replayed = await postJson(`${env.api.base}/vendors/${vendor}/dead-letters/replay`, { request_ids: [id] }, { authorization: `Bearer ${ADMIN_KEY}` });
    expect(replayed.status).toBe(200);
    await waitFor('the replayed job to complete', async () => (await statusOf(id)) === 'complete', 10_000);
    expect(await env.services.store.get(id)).toMatchObject({ status: 'complete', attempts: 4, replayed_attempts: 2 });
    expect(callsOf(mock, id)).toBe(4);
    expect(await counterValue(metrics.deadLettered)).toBe(1); // it did not die again
  });

  test('two concurrent replays of a dead job: the vendor is called once more, not twice', async () => {
    const mock = await syncMock({ failFirst: 1, failFirstPer: 'key' });
    const vendor = vendorName('dl-once');
    const pool = await publish([spec(vendor, mock.fetchUrl, { retry: { maxAttempts: 1, initialBackoffMs: 50, maxBackoffMs: 50 } })]);
    await startWorker(pool);
    const id = await submit(vendor);
    await waitFor('the job to die', async () => (await statusOf(id)) === 'failed');
    const replay = () => postJson(`${env.api.base}/vendors/${vendor}/dead-letters/replay`, { all: true }, { authorization: `Bearer ${ADMIN_KEY}` }).then((r) => r.json() as Promise<{ replayed: string[] }>);
    const answers = await Promise.all([replay(), replay(), replay()]);
    expect(answers.flatMap((a) => a.replayed)).toEqual([id]);
    await waitFor('the replayed job to complete', async () => (await statusOf(id)) === 'complete');
    await sleep(300);
    expect(callsOf(mock, id)).toBe(2);
  });
});
