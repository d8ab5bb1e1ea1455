// POST /jobs/{id}/cancel over real HTTP, real Redis, the SQLite store (no worker: the races with
// a running worker and real vendors are in worker/cancel-and-replay.test.ts).
import { randomUUID } from 'node:crypto';
import { keys } from '../core/keys.js';
import * as queue from '../core/queue.js';
import { postJson, signWebhook, startApi, startServices, type TestApi, type TestServices } from '../testing/api-app.js';

let s: TestServices;
let api: TestApi;

beforeAll(async () => {
  s = await startServices();
  api = await startApi(s);
});
afterAll(async () => {
  await api?.close();
  await s?.close();
});

async function submit(vendor = 'acme'): Promise<string> {
  const res = await postJson(`${api.base}/jobs`, { vendor, payload: { q: 1 } });
  expect(res.status).toBe(202);
  return ((await res.json()) as { request_id: string }).request_id;
}

const cancel = (id: string, headers: Record<string, string> = {}) => fetch(`${api.base}/jobs/${id}/cancel`, { method: 'POST', headers });
const cancelledCount = async (vendor: string) => (await api.metrics.jobsCancelled.get()).values.find((v) => v.labels.vendor === vendor)?.value ?? 0;

async function expectProblem(res: Response, status: number, type: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as { type: string; status: number; detail?: string };
  expect(body).toMatchObject({ status, type: `${api.base}${type}` });
  return body;
}

test('a pending job → 200 cancelled; GET shows it cancelled, with completed_at; counted once', async () => {
  const id = await submit();
  const before = await cancelledCount('acme');
  const res = await cancel(id);
  expect(res.status).toBe(200);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ request_id: id, vendor: 'acme', status: 'cancelled', attempts: 0 });
  expect(typeof body['completed_at']).toBe('string');
  expect(await (await fetch(`${api.base}/jobs/${id}`)).json()).toEqual(body);
  expect(await cancelledCount('acme')).toBe(before + 1);

  // Idempotent: again → 200 with the same job, and no second count.
  const again = await cancel(id);
  expect(again.status).toBe(200);
  expect(await again.json()).toEqual(body);
  expect(await cancelledCount('acme')).toBe(before + 1);
});

test('a processing job (call in flight) → 200 cancelled; the running attempt can no longer write', async () => {
  const id = await submit();
  const started = await s.store.startAttempt(id, new Date(Date.now() + 60_000), new Date());
  expect((await cancel(id)).status).toBe(200);
  expect(await s.store.complete(id, { late: true }, new Date(), started!.attempts)).toBe(false);
  expect((await s.store.get(id))?.status).toBe('cancelled');
});

test('a job waiting for its retry leaves the delayed set', async () => {
  const id = await submit();
  await s.store.startAttempt(id, new Date(Date.now() + 60_000), new Date());
  await s.store.releaseForRetry(id, 'vendor_error: HTTP 503', new Date(Date.now() + 60_000), new Date(), 1);
  await queue.delay(s.redis, 'acme', 'normal', id, Date.now() + 60_000);
  expect(await s.redis.zscore(keys.delayed('acme', 'normal'), id)).not.toBeNull();
  expect((await cancel(id)).status).toBe(200);
  expect(await s.redis.zscore(keys.delayed('acme', 'normal'), id)).toBeNull();
});

test('a complete or failed job → 409 job-finished, and it stays as it was', async () => {
  const done = await submit();
  await s.store.startAttempt(done, new Date(Date.now() + 60_000), new Date());
  await s.store.complete(done, { ok: true }, new Date(), 1);
  const failed = await submit();
  await s.store.fail(failed, 'vendor_rejected: HTTP 400', new Date());
  for (const [id, status] of [[done, 'complete'], [failed, 'failed']] as const) {
    const before = await s.store.get(id);
    const problem = await expectProblem(await cancel(id), 409, '/problems/job-finished');
    expect(problem.detail).toContain(status);
    expect(await s.store.get(id)).toEqual(before);
  }
});

test('unknown id → 404; malformed id → 400', async () => {
  await expectProblem(await cancel(randomUUID()), 404, '/problems/not-found');
  await expectProblem(await cancel('not-a-uuid'), 400, '/problems/validation');
});

test('a late webhook for a cancelled job is answered 200 "ignored" and changes nothing', async () => {
  const id = await submit('slowco');
  await s.store.startAttempt(id, new Date(Date.now() + 60_000), new Date());
  expect((await cancel(id)).status).toBe(200);
  const before = await s.store.get(id);
  const raw = JSON.stringify({ request_id: id, data: { name: 'late' } });
  const res = await postJson(`${api.base}/vendor-webhook/slowco`, raw, signWebhook(raw, { id: `msg_${randomUUID()}` }));
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'ignored' });
  expect(await s.store.get(id)).toEqual(before);
});

test('with API keys configured, cancel is a client route: no key → 401, a client key → 200', async () => {
  const keyed = await startApi(s, { apiKeys: ['client-key'] });
  try {
    const id = await submit();
    const missing = await fetch(`${keyed.base}/jobs/${id}/cancel`, { method: 'POST' });
    expect(missing.status).toBe(401);
    expect((await s.store.get(id))?.status).toBe('pending');
    const ok = await fetch(`${keyed.base}/jobs/${id}/cancel`, { method: 'POST', headers: { authorization: 'Bearer client-key' } });
    expect(ok.status).toBe(200);
  } finally {
    await keyed.close();
  }
});
