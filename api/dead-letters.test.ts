// The dead-letter routes and their admin key, over real HTTP, real Redis, the SQLite store.
import { randomUUID } from 'node:crypto';
import { keys } from '../core/keys.js';
import { reasonOf } from './dead-letters.js';
import { postJson, startApi, startServices, type TestApi, type TestServices } from '../testing/api-app.js';

let s: TestServices;
let api: TestApi;
const ADMIN = { authorization: 'Bearer admin-secret-1' };
const CLIENT = { authorization: 'Bearer client-secret-1' };

beforeAll(async () => {
  s = await startServices();
  api = await startApi(s, { apiKeys: ['client-secret-1'], adminApiKeys: ['admin-secret-1', 'admin-secret-2'] });
});
afterAll(async () => {
  await api?.close();
  await s?.close();
});

/** A job of `vendor` that died after `calls` vendor calls (as the worker leaves one). */
async function failedJob(vendor: string, calls = 3, error = 'vendor_error: HTTP 503'): Promise<string> {
  const res = await postJson(`${api.base}/jobs`, { vendor, payload: { q: 1 } }, CLIENT);
  expect(res.status).toBe(202);
  const { request_id } = (await res.json()) as { request_id: string };
  for (let i = 0; i < calls; i++) await s.store.startAttempt(request_id, new Date(Date.now() + 60_000), new Date());
  expect(await s.store.fail(request_id, error, new Date())).toBe(true);
  return request_id;
}

const list = (vendor: string, query = '', headers: Record<string, string> = ADMIN) =>
  fetch(`${api.base}/vendors/${vendor}/dead-letters${query}`, { headers });
const replay = (vendor: string, body: unknown, headers: Record<string, string> = ADMIN) =>
  postJson(`${api.base}/vendors/${vendor}/dead-letters/replay`, body, headers);
const streamIds = async (vendor: string) => (await s.redis.xrange(keys.stream(vendor, 'normal'), '-', '+')).map(([, f]) => f[1]);
const replayedCount = async (vendor: string) =>
  (await api.metrics.deadLettersReplayed.get()).values.find((v) => v.labels.vendor === vendor)?.value ?? 0;

async function expectProblem(res: Response, status: number, type: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return (await res.json()) as { type: string; errors?: Array<{ field: string }> };
}

describe('admin access', () => {
  test('no key or an unknown key → 401; a client key → 403; an admin key → 200', async () => {
    for (const send of [(h: Record<string, string>) => list('acme', '', h), (h: Record<string, string>) => replay('acme', { all: true }, h)]) {
      const none = await send({});
      await expectProblem(none, 401, '/problems/unauthorized');
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      await expectProblem(await send({ authorization: 'Bearer admin-secret-3' }), 401, '/problems/unauthorized');
      const client = await expectProblem(await send(CLIENT), 403, '/problems/forbidden');
      expect(client.type).toBe(`${api.base}/problems/forbidden`);
      expect((await send({ authorization: 'Bearer admin-secret-2' })).status).toBe(200);
    }
  });

  test('an admin key is not a client key: /jobs refuses it', async () => {
    expect((await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: {} }, ADMIN)).status).toBe(401);
  });

  test('no admin key configured → 403 for everyone, admin-looking or not (closed by default)', async () => {
    const closed = await startApi(s, { apiKeys: ['client-secret-1'] });
    const open = await startApi(s); // not even client keys
    try {
      for (const base of [closed.base, open.base]) {
        for (const headers of [{}, CLIENT, ADMIN]) {
          const res = await fetch(`${base}/vendors/acme/dead-letters`, { headers });
          expect(res.status).toBe(403);
          expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        }
      }
    } finally {
      await closed.close();
      await open.close();
    }
  });
});

describe('GET /vendors/{vendor}/dead-letters', () => {
  test('each failed job of the vendor with its reason, attempts and last error; nothing else', async () => {
    const vendor = 'otherco';
    const a = await failedJob(vendor, 3, 'vendor_error: HTTP 503');
    const b = await failedJob(vendor, 1, 'callback_timeout');
    await failedJob('acme', 1);
    await postJson(`${api.base}/jobs`, { vendor, payload: {} }, CLIENT); // pending: not a dead letter
    const res = await list(vendor);
    expect(res.status).toBe(200);
    const page = (await res.json()) as { vendor: string; dead_letters: Array<Record<string, unknown>>; next_cursor?: string };
    expect(page.vendor).toBe(vendor);
    expect(page.next_cursor).toBeUndefined();
    expect(page.dead_letters.map((d) => d['request_id'])).toEqual([a, b].sort());
    expect(page.dead_letters.find((d) => d['request_id'] === a)).toMatchObject({ reason: 'vendor_error', attempts: 3, last_error: 'vendor_error: HTTP 503' });
    expect(page.dead_letters.find((d) => d['request_id'] === b)).toMatchObject({ reason: 'callback_timeout', attempts: 1, last_error: 'callback_timeout' });
    expect(typeof page.dead_letters[0]!['failed_at']).toBe('string');
  });

  test('pages by cursor; bad limit, cursor or vendor → 400', async () => {
    const vendor = 'nosecret';
    const ids = [await failedJob(vendor, 1), await failedJob(vendor, 1), await failedJob(vendor, 1)].sort();
    const first = (await (await list(vendor, '?limit=2')).json()) as { dead_letters: Array<{ request_id: string }>; next_cursor?: string };
    expect(first.dead_letters.map((d) => d.request_id)).toEqual(ids.slice(0, 2));
    expect(first.next_cursor).toBe(ids[1]);
    const second = (await (await list(vendor, `?limit=2&cursor=${first.next_cursor}`)).json()) as { dead_letters: Array<{ request_id: string }>; next_cursor?: string };
    expect(second.dead_letters.map((d) => d.request_id)).toEqual(ids.slice(2));
    expect(second.next_cursor).toBeUndefined();
    expect((await expectProblem(await list(vendor, '?limit=0'), 400, '/problems/validation')).errors?.[0]?.field).toBe('limit');
    expect((await expectProblem(await list(vendor, '?cursor=x'), 400, '/problems/validation')).errors?.[0]?.field).toBe('cursor');
    expect((await expectProblem(await list('Not_A_Vendor'), 400, '/problems/validation')).errors?.[0]?.field).toBe('vendor');
  });

  test('reasonOf: the code of the last error', () => {
    expect(reasonOf('vendor_rejected: HTTP 400')).toBe('vendor_rejected');
    expect(reasonOf('worker_lost')).toBe('worker_lost');
    expect(reasonOf(undefined)).toBe('unknown');
  });
});

describe('POST /vendors/{vendor}/dead-letters/replay', () => {
  test('the listed ids go back to pending with a fresh budget and are queued once each; counted', async () => {
    const a = await failedJob('acme', 3);
    const b = await failedJob('acme', 2);
    const stillDead = await failedJob('acme', 1);
    const before = await replayedCount('acme');
    const res = await replay('acme', { request_ids: [a, b, b] });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ vendor: 'acme', replayed: [a, b], not_replayed: [], more: false });
    expect(await s.store.get(a)).toMatchObject({ status: 'pending', attempts: 3, replayed_attempts: 3 });
    expect(await s.store.get(b)).toMatchObject({ status: 'pending', attempts: 2, replayed_attempts: 2 });
    expect((await s.store.get(stillDead))?.status).toBe('failed');
    const queued = await streamIds('acme');
    expect(queued.filter((id) => id === a)).toHaveLength(2); // POST /jobs, then the replay
    expect(queued.filter((id) => id === b)).toHaveLength(2);
    expect(await replayedCount('acme')).toBe(before + 2);
  });

  test('ids that are not failed, unknown, or of another vendor are reported, not replayed', async () => {
    const pending = (await (await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: {} }, CLIENT)).json()) as { request_id: string };
    const otherVendor = await failedJob('slowco', 1);
    const unknown = randomUUID();
    const res = await replay('acme', { request_ids: [pending.request_id, otherVendor, unknown] });
    expect(await res.json()).toEqual({
      vendor: 'acme',
      replayed: [],
      not_replayed: [
        { request_id: pending.request_id, reason: 'not_failed' },
        { request_id: otherVendor, reason: 'not_found' },
        { request_id: unknown, reason: 'not_found' },
      ],
      more: false,
    });
    expect((await s.store.get(otherVendor))?.status).toBe('failed');
  });

  test('all: every failed job of the vendor', async () => {
    const ids = [await failedJob('slowco', 1), await failedJob('slowco', 2)];
    const res = (await (await replay('slowco', { all: true })).json()) as { replayed: string[]; more: boolean };
    expect(res.replayed).toEqual(expect.arrayContaining(ids));
    expect(res.more).toBe(false);
    expect(await s.store.listFailed('slowco', 10)).toEqual([]);
  });

  test('two concurrent replays of one job: one replays it, the other is told not_failed; queued once', async () => {
    const id = await failedJob('acme', 2);
    const before = (await streamIds('acme')).filter((x) => x === id).length;
    const answers = (await Promise.all([
      replay('acme', { request_ids: [id] }).then((r) => r.json()),
      replay('acme', { request_ids: [id] }).then((r) => r.json()),
    ])) as Array<{ replayed: string[]; not_replayed: Array<{ reason: string }> }>;
    expect(answers.map((a) => a.replayed.length).sort()).toEqual([0, 1]);
    expect(answers.flatMap((a) => a.not_replayed.map((n) => n.reason))).toEqual(['not_failed']);
    expect((await streamIds('acme')).filter((x) => x === id).length).toBe(before + 1);
  });

  test('a bad body → 400 naming the field; an unknown vendor → 422', async () => {
    await expectProblem(await replay('acme', {}), 400, '/problems/validation');
    await expectProblem(await replay('acme', { all: true, request_ids: [randomUUID()] }), 400, '/problems/validation');
    expect((await expectProblem(await replay('acme', { request_ids: ['nope'] }), 400, '/problems/validation')).errors?.[0]?.field).toBe('request_ids.0');
    await expectProblem(await replay('acme', { request_ids: [] }), 400, '/problems/validation');
    await expectProblem(await replay('acme', '{not json'), 400, '/problems/malformed-json');
    await expectProblem(await replay('no-such-vendor', { all: true }), 422, '/problems/unknown-vendor');
  });
});
