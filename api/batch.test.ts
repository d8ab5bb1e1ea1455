// POST /jobs/batch over real HTTP, a real redis-server and the SQLite store: each item answered
// on its own, per-item Idempotency-Keys, a queue write that fails for one vendor (its stream
// key made the wrong type: a real WRONGTYPE from Redis) undone item by item, hostile bodies,
// priorities (each job in its lane's stream).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Priority } from '../core/job.js';
import { keys } from '../core/keys.js';
import { createJobStore } from '../core/store/index.js';
import { postJson, startApi, startServices, type TestApi, type TestServices } from '../testing/api-app.js';
import type { BatchAnswer } from './batch.js';

let s: TestServices;
let api: TestApi;
/** Small limits, to reach them cheaply: 5 jobs, 16 KiB per batch, 2 KiB per job. */
let small: TestApi;

beforeAll(async () => {
  s = await startServices();
  api = await startApi(s);
  small = await startApi(s, { batchMaxJobs: 5, batchBodyLimit: '16kb', bodyLimit: '2kb' });
});
afterAll(async () => {
  await small?.close();
  await api?.close();
  await s?.close();
});

async function batch(jobs: unknown, base = api.base): Promise<BatchAnswer> {
  const res = await postJson(`${base}/jobs/batch`, { jobs });
  expect(res.status).toBe(200);
  return (await res.json()) as BatchAnswer;
}

const streamIds = async (vendor: string, lane: Priority = 'normal') => (await s.redis.xrange(keys.stream(vendor, lane), '-', '+')).map(([, f]) => f[1]);
const submitted = async (vendor: string) => (await api.metrics.jobsSubmitted.get()).values.find((v) => v.labels.vendor === vendor)?.value ?? 0;

async function expectProblem(res: Response, status: number, type: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as { type: string; status: number };
  expect(body).toMatchObject({ status, type: `${new URL(res.url).origin}${type}` });
}

test('each item answered on its own: good ones stored pending and queued, bad ones get the problem POST /jobs gives', async () => {
  const before = await submitted('acme');
  const answer = await batch([
    { vendor: 'acme', payload: { n: 0 } },
    { vendor: 'no-such-vendor', payload: {} },
    { vendor: 'slowco', company: 'lenient' }, // no payload: the rest is the payload
    { vendor: 42, payload: [1] },
    'not an object',
    { vendor: 'acme', payload: { n: 5 }, idempotency_key: 'has space' },
  ]);
  expect(answer).toMatchObject({ accepted: 2, rejected: 4 });
  const [ok0, unknown, ok2, types, notObject, badKey] = answer.results;
  expect(ok0).toMatchObject({ status: 202 });
  expect(ok2).toMatchObject({ status: 202 });
  expect(unknown).toMatchObject({ status: 422, problem: { status: 422, type: `${api.base}/problems/unknown-vendor` } });
  expect(types).toMatchObject({ status: 400, problem: { errors: [{ field: 'vendor' }, { field: 'payload' }] } });
  expect(notObject).toMatchObject({ status: 400, problem: { errors: [{ field: 'jobs[4]' }] } });
  expect(badKey).toMatchObject({ status: 400, problem: { errors: [{ field: 'idempotency_key' }] } });

  const id0 = (ok0 as { request_id: string }).request_id;
  const id2 = (ok2 as { request_id: string }).request_id;
  expect(await s.store.get(id0)).toMatchObject({ vendor: 'acme', status: 'pending', payload: { n: 0 } });
  expect(await s.store.get(id2)).toMatchObject({ vendor: 'slowco', payload: { company: 'lenient' } });
  expect(await streamIds('acme')).toContain(id0);
  expect(await streamIds('slowco')).toContain(id2);
  expect(await submitted('acme')).toBe(before + 1);
  // Readable like any job.
  expect((await fetch(`${api.base}/jobs/${id0}`)).status).toBe(200);
});

test('priority per item, as POST /jobs: stored on the job, each job queued in its own lane\'s stream; default normal; a bad one fails its item alone', async () => {
  const answer = await batch([
    { vendor: 'acme', payload: { lane: 'h' }, priority: 'high' },
    { vendor: 'acme', payload: { lane: 'l' }, priority: 'low' },
    { vendor: 'acme', payload: { lane: 'n' } },
    { vendor: 'slowco', payload: { lane: 'h' }, priority: 'high' },
    { vendor: 'acme', payload: { lane: 'x' }, priority: 'urgent' },
    { vendor: 'acme', payload: { lane: 'n2' }, priority: 'normal' },
  ]);
  expect(answer).toMatchObject({ accepted: 5, rejected: 1 });
  expect(answer.results[4]).toMatchObject({ status: 400, problem: { errors: [{ field: 'priority', detail: 'must be one of high, normal, low' }] } });
  const [high, low, plain, otherHigh, , normal] = answer.results.map((r) => (r as { request_id?: string }).request_id);
  const expected: Array<[string | undefined, string, Priority]> = [
    [high, 'acme', 'high'],
    [low, 'acme', 'low'],
    [plain, 'acme', 'normal'],
    [otherHigh, 'slowco', 'high'],
    [normal, 'acme', 'normal'],
  ];
  for (const [id, vendor, lane] of expected) {
    expect(await s.store.get(id!)).toMatchObject({ vendor, priority: lane, status: 'pending' });
    expect(((await (await fetch(`${api.base}/jobs/${id}`)).json()) as { priority: string }).priority).toBe(lane);
    // In its own lane's stream, and in no other lane's.
    for (const other of ['high', 'normal', 'low'] as const) {
      expect(await streamIds(vendor, other)).toEqual(other === lane ? expect.arrayContaining([id]) : expect.not.arrayContaining([id]));
    }
  }
});

test('per-item Idempotency-Key with a priority: a replay with the same priority takes the job, another priority → 422 (as POST /jobs)', async () => {
  const first = await batch([{ vendor: 'acme', payload: { p: 1 }, priority: 'low', idempotency_key: 'batch-prio' }]);
  const id = (first.results[0] as { request_id: string }).request_id;
  const again = await batch([{ vendor: 'acme', payload: { p: 1 }, priority: 'low', idempotency_key: 'batch-prio' }]);
  expect(again.results[0]).toEqual({ status: 202, request_id: id, replayed: true });
  const other = await batch([{ vendor: 'acme', payload: { p: 1 }, priority: 'high', idempotency_key: 'batch-prio' }]);
  expect(other.results[0]).toMatchObject({ status: 422, problem: { type: `${api.base}/problems/idempotency-key-reused` } });
  // Without a priority the repeat asks for normal: another request too.
  const unset = await batch([{ vendor: 'acme', payload: { p: 1 }, idempotency_key: 'batch-prio' }]);
  expect(unset.results[0]).toMatchObject({ status: 422 });
  // The key is shared with POST /jobs, priority included.
  const single = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: { p: 1 }, priority: 'low' }, { 'Idempotency-Key': 'batch-prio' });
  expect(single.status).toBe(202);
  expect(((await single.json()) as { request_id: string }).request_id).toBe(id);
  expect(await streamIds('acme', 'low')).toEqual(expect.arrayContaining([id]));
  expect((await streamIds('acme', 'low')).filter((x) => x === id)).toHaveLength(1); // queued once
});

test('per-item Idempotency-Key: shared with POST /jobs, a replay takes the first job, another body → 422, a twin in the same batch → 409', async () => {
  const first = await batch([{ vendor: 'acme', payload: { k: 1 }, idempotency_key: 'batch-key-1' }]);
  const id = (first.results[0] as { request_id: string }).request_id;

  const single = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: { k: 1 } }, { 'Idempotency-Key': 'batch-key-1' });
  expect(single.status).toBe(202);
  expect(single.headers.get('idempotent-replayed')).toBe('true');
  expect(((await single.json()) as { request_id: string }).request_id).toBe(id);

  const xlen = await s.redis.xlen(keys.stream('acme', 'normal'));
  const again = await batch([
    { vendor: 'acme', payload: { k: 1 }, idempotency_key: 'batch-key-1' },
    { vendor: 'acme', payload: { k: 2 }, idempotency_key: 'batch-key-1' },
    { vendor: 'acme', payload: { t: 1 }, idempotency_key: 'twin' },
    { vendor: 'acme', payload: { t: 1 }, idempotency_key: 'twin' },
  ]);
  expect(again.results[0]).toEqual({ status: 202, request_id: id, replayed: true });
  expect(again.results[1]).toMatchObject({ status: 409 }); // batch-key-1 is claimed by item 0 of this very batch
  expect(again.results[2]).toMatchObject({ status: 202 });
  expect(again.results[3]).toMatchObject({ status: 409, problem: { type: `${api.base}/problems/idempotency-key-in-flight` } });
  expect(await s.redis.xlen(keys.stream('acme', 'normal'))).toBe(xlen + 1); // only the new twin was queued

  const reused = await batch([{ vendor: 'acme', payload: { k: 2 }, idempotency_key: 'batch-key-1' }]);
  expect(reused.results[0]).toMatchObject({ status: 422, problem: { type: `${api.base}/problems/idempotency-key-reused` } });
  // The markers were released: the same key works again at once.
  expect((await batch([{ vendor: 'acme', payload: { t: 1 }, idempotency_key: 'twin' }])).results[0]).toMatchObject({ status: 202, replayed: true });
});

test("a vendor whose queue write fails: its items are deleted again and answered 503; the other vendor's are accepted", async () => {
  // A real Redis error for this vendor's XADDs only: its stream key holds a string.
  await s.redis.set(keys.stream('otherco', 'normal'), 'not a stream');
  try {
    const answer = await batch([
      { vendor: 'otherco', payload: { n: 1 } },
      { vendor: 'acme', payload: { n: 2 } },
      { vendor: 'otherco', payload: { n: 3 } },
    ]);
    expect(answer).toMatchObject({ accepted: 1, rejected: 2 });
    expect(answer.results[0]).toMatchObject({ status: 503, problem: { type: `${api.base}/problems/unavailable` } });
    expect(answer.results[2]).toMatchObject({ status: 503 });
    expect(answer.results[1]).toMatchObject({ status: 202 });
    // Nothing half-done: no otherco job is left in the store to be run by the sweeper.
    expect(await s.store.countByStatus('otherco')).toMatchObject({ pending: 0 });
    expect(await s.store.get((answer.results[1] as { request_id: string }).request_id)).toMatchObject({ status: 'pending' });
  } finally {
    await s.redis.del(keys.stream('otherco', 'normal'));
  }
});

test('hostile bodies → 4xx problem+json: too many jobs, too large, too deep, wrong shape; one job over the per-job limit fails alone', async () => {
  const six = Array.from({ length: 6 }, (_, n) => ({ vendor: 'acme', payload: { n } }));
  await expectProblem(await postJson(`${small.base}/jobs/batch`, { jobs: six }), 413, '/problems/payload-too-large');
  const huge = { jobs: [{ vendor: 'acme', payload: { pad: 'x'.repeat(20_000) } }] };
  await expectProblem(await postJson(`${small.base}/jobs/batch`, huge), 413, '/problems/payload-too-large');
  let deep: unknown = 1;
  for (let i = 0; i < 70; i++) deep = { d: deep };
  await expectProblem(await postJson(`${api.base}/jobs/batch`, { jobs: [{ vendor: 'acme', payload: deep }] }), 400, '/problems/too-deep');
  // 60 levels inside the item are fine (a POST /jobs body may nest 64 levels).
  let fine: unknown = 1;
  for (let i = 0; i < 60; i++) fine = { d: fine };
  expect((await batch([{ vendor: 'acme', payload: fine }])).accepted).toBe(1);
  await expectProblem(await postJson(`${api.base}/jobs/batch`, '{"jobs": [ {"vendor": '), 400, '/problems/malformed-json');
  await expectProblem(await postJson(`${api.base}/jobs/batch`, [{ vendor: 'acme' }]), 400, '/problems/validation');
  await expectProblem(await postJson(`${api.base}/jobs/batch`, { jobs: [] }), 400, '/problems/validation');

  const mixed = await batch([{ vendor: 'acme', payload: { pad: 'x'.repeat(3000) } }, { vendor: 'acme', payload: { n: 1 } }], small.base);
  expect(mixed.results[0]).toMatchObject({ status: 413, problem: { type: `${small.base}/problems/payload-too-large` } });
  expect(mixed.results[1]).toMatchObject({ status: 202 });
});

test('the store failing as a whole → 503 for the request, nothing queued', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-batch-closed-'));
  const broken = await createJobStore({ sqlitePath: path.join(dir, 'jobs.db') });
  await broken.close();
  const down = await startApi(s, {}, { store: broken });
  try {
    const xlen = await s.redis.xlen(keys.stream('acme', 'normal'));
    await expectProblem(await postJson(`${down.base}/jobs/batch`, { jobs: [{ vendor: 'acme', payload: {} }] }), 503, '/problems/unavailable');
    expect(await s.redis.xlen(keys.stream('acme', 'normal'))).toBe(xlen);
  } finally {
    await down.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('1,000 jobs in one request: all stored and queued once', async () => {
  const xlen = await s.redis.xlen(keys.stream('acme', 'normal'));
  const answer = await batch(Array.from({ length: 1000 }, (_, n) => ({ vendor: 'acme', payload: { n } })));
  expect(answer).toMatchObject({ accepted: 1000, rejected: 0 });
  const ids = answer.results.map((r) => (r as { request_id: string }).request_id);
  expect(new Set(ids).size).toBe(1000);
  expect(await s.redis.xlen(keys.stream('acme', 'normal'))).toBe(xlen + 1000);
  expect(await s.store.get(ids[999]!)).toMatchObject({ payload: { n: 999 }, status: 'pending' });
});
