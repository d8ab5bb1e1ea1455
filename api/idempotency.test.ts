// Idempotency-Key after the IETF draft (issue 10 item 7): keys are scoped by client and route,
// carry a fingerprint of vendor + canonical payload, and a repeat while the first request is
// still in flight gets 409. Real HTTP, real Redis, the SQLite store.
import { randomUUID } from 'node:crypto';
import type { JobStore } from '../core/job.js';
import { keys } from '../core/keys.js';
import { canonicalFingerprint } from './idempotency.js';
import { postJson, startApi, startServices, type TestApi, type TestServices } from '../testing/api-app.js';

let s: TestServices;
let api: TestApi;
let keyed: TestApi;

beforeAll(async () => {
  s = await startServices();
  api = await startApi(s);
  keyed = await startApi(s, { apiKeys: ['client-a-key', 'client-b-key'] });
});
afterAll(async () => {
  await keyed?.close();
  await api?.close();
  await s?.close();
});

const idOf = async (res: Response) => ((await res.json()) as { request_id: string }).request_id;

test('canonicalFingerprint ignores key order and number spelling, not values', () => {
  const a = canonicalFingerprint('acme', JSON.parse('{"a":1,"b":{"c":[1,2],"d":"x"}}'));
  expect(canonicalFingerprint('acme', JSON.parse('{"b":{"d":"x","c":[1.0,2e0]},"a":1}'))).toBe(a);
  expect(canonicalFingerprint('acme', JSON.parse('{"a":1,"b":{"c":[2,1],"d":"x"}}'))).not.toBe(a);
  expect(canonicalFingerprint('otherco', JSON.parse('{"a":1,"b":{"c":[1,2],"d":"x"}}'))).not.toBe(a);
});

test('the same key with another payload → 422, and no second job', async () => {
  const key = `k-${randomUUID()}`;
  const first = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: { n: 1 } }, { 'Idempotency-Key': key });
  expect(first.status).toBe(202);
  const queued = await s.redis.xlen(keys.stream('acme', 'normal'));
  const other = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: { n: 2 } }, { 'Idempotency-Key': key });
  expect(other.status).toBe(422);
  expect(other.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await other.json()) as { type: string; detail: string };
  expect(body.type).toBe(`${api.base}/problems/idempotency-key-reused`);
  expect(body.detail).not.toContain(await idOf(first)); // the other body learns no request_id
  expect(await s.redis.xlen(keys.stream('acme', 'normal'))).toBe(queued);
});

test('the same key with another vendor → 422', async () => {
  const key = `k-${randomUUID()}`;
  expect((await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: { n: 1 } }, { 'Idempotency-Key': key })).status).toBe(202);
  expect((await postJson(`${api.base}/jobs`, { vendor: 'slowco', payload: { n: 1 } }, { 'Idempotency-Key': key })).status).toBe(422);
});

test('the same body with keys in another order is a replay (202, same request_id)', async () => {
  const key = `k-${randomUUID()}`;
  const first = await postJson(`${api.base}/jobs`, '{"vendor":"acme","payload":{"a":1,"b":[1,2]}}', { 'Idempotency-Key': key });
  const again = await postJson(`${api.base}/jobs`, '{"payload":{"b":[1.0,2],"a":1},"vendor":"acme"}', { 'Idempotency-Key': key });
  expect(again.status).toBe(202);
  expect(await idOf(again)).toBe(await idOf(first));
  expect(again.headers.get('idempotent-replayed')).toBe('true');
});

test('another client (API key) using the same key gets a job of its own, never the first client\'s id', async () => {
  const key = `shared-${randomUUID()}`;
  const body = { vendor: 'acme', payload: { n: 1 } };
  const a = await postJson(`${keyed.base}/jobs`, body, { 'Idempotency-Key': key, authorization: 'Bearer client-a-key' });
  const b = await postJson(`${keyed.base}/jobs`, body, { 'Idempotency-Key': key, authorization: 'Bearer client-b-key' });
  expect([a.status, b.status]).toEqual([202, 202]);
  const [idA, idB] = [await idOf(a), await idOf(b)];
  expect(idB).not.toBe(idA);
  expect(b.headers.get('idempotent-replayed')).toBeNull();
  // Each client's own repeat still replays its own job.
  const a2 = await postJson(`${keyed.base}/jobs`, body, { 'Idempotency-Key': key, authorization: 'Bearer client-a-key' });
  expect(await idOf(a2)).toBe(idA);
});

test('a repeat while the first request is still in flight → 409 with Retry-After, in this or another api process', async () => {
  // The first request is held inside store.create (a gate around the real store), so it is
  // provably in flight when the repeats arrive.
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let entered!: () => void;
  const inCreate = new Promise<void>((r) => (entered = r));
  const held: JobStore = Object.create(s.store) as JobStore;
  held.create = async (job, now) => {
    entered();
    await gate;
    return s.store.create(job, now);
  };
  const slow = await startApi(s, {}, { store: held });
  try {
    const key = `inflight-${randomUUID()}`;
    const body = { vendor: 'acme', payload: { n: 1 } };
    const first = postJson(`${slow.base}/jobs`, body, { 'Idempotency-Key': key });
    await inCreate;
    const sameProcess = await postJson(`${slow.base}/jobs`, body, { 'Idempotency-Key': key });
    const otherProcess = await postJson(`${api.base}/jobs`, body, { 'Idempotency-Key': key });
    for (const r of [sameProcess, otherProcess]) {
      expect(r.status).toBe(409);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(new URL(((await r.json()) as { type: string }).type).pathname).toBe('/problems/idempotency-key-in-flight');
    }
    open();
    const done = await first;
    expect(done.status).toBe(202);
    // Once it finished, a repeat is a plain replay.
    const after = await postJson(`${api.base}/jobs`, body, { 'Idempotency-Key': key });
    expect(after.status).toBe(202);
    expect(await idOf(after)).toBe(await idOf(done));
  } finally {
    open();
    await slow.close();
  }
});
