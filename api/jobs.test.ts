// POST /jobs and GET /jobs/:id over real HTTP, real Redis, the SQLite store.
import { randomUUID } from 'node:crypto';
import { keys } from '../core/keys.js';
import { postJson, startApi, startServices, type TestApi, type TestServices } from '../testing/api-app.js';

let s: TestServices;
let api: TestApi;

beforeAll(async () => {
  s = await startServices();
  api = await startApi(s, { bodyLimit: '256kb' });
});
afterAll(async () => {
  await api?.close();
  await s?.close();
});

const streamIds = async (vendor: string) =>
  (await s.redis.xrange(keys.stream(vendor, 'normal'), '-', '+')).map(([, fields]) => fields[1]);

async function expectProblem(res: Response, status: number, type?: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as { type: string; title: string; status: number; errors?: { field: string }[] };
  expect(body.status).toBe(status);
  expect(typeof body.title).toBe('string');
  // Absolute: the page that explains the problem, on the api that answered (no base configured).
  if (type) expect(body.type).toBe(`${api.base}${type}`);
  return body;
}

describe('POST /jobs', () => {
  test('202 with request_id and Location, after the job is stored and queued', async () => {
    const res = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: { q: 'x' } });
    expect(res.status).toBe(202);
    const { request_id } = (await res.json()) as { request_id: string };
    expect(request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('location')).toBe(`/jobs/${request_id}`);
    const job = await s.store.get(request_id);
    expect(job).toMatchObject({ vendor: 'acme', status: 'pending', payload: { q: 'x' } });
    // The deadline is the pending timeout (default 600 s) from now: the sweeper's backstop.
    const ahead = job!.deadline_at.getTime() - Date.now();
    expect(ahead).toBeGreaterThan(590_000);
    expect(ahead).toBeLessThanOrEqual(600_000);
    expect(await streamIds('acme')).toContain(request_id);
  });

  test('lenient: without payload the rest of the body is the payload', async () => {
    const res = await postJson(`${api.base}/jobs`, { vendor: 'acme', name: 'Ada', n: 2 });
    expect(res.status).toBe(202);
    const { request_id } = (await res.json()) as { request_id: string };
    expect((await s.store.get(request_id))?.payload).toEqual({ name: 'Ada', n: 2 });
  });

  test('lenient: a JSON body sent without a JSON content type is still read', async () => {
    const res = await fetch(`${api.base}/jobs`, { method: 'POST', body: JSON.stringify({ vendor: 'acme', payload: {} }) });
    expect(res.status).toBe(202);
  });

  test('without vendor and without a default vendor → 422', async () => {
    const body = await expectProblem(await postJson(`${api.base}/jobs`, { payload: { a: 1 } }), 422, '/problems/unknown-vendor');
    expect(body.errors?.map((e) => e.field)).toEqual(['vendor']);
  });

  test('without vendor, with a default vendor → queued for the default vendor', async () => {
    const withDefault = await startApi(s, { defaultVendor: 'acme' });
    try {
      const res = await postJson(`${withDefault.base}/jobs`, { city: 'Oslo' });
      expect(res.status).toBe(202);
      const { request_id } = (await res.json()) as { request_id: string };
      expect(await s.store.get(request_id)).toMatchObject({ vendor: 'acme', payload: { city: 'Oslo' } });
      expect(await streamIds('acme')).toContain(request_id);
    } finally {
      await withDefault.close();
    }
  });

  test('unknown vendor → 422 and nothing stored or queued', async () => {
    const before = await s.redis.xlen(keys.stream('nope', 'normal'));
    await expectProblem(await postJson(`${api.base}/jobs`, { vendor: 'nope', payload: {} }), 422, '/problems/unknown-vendor');
    expect(await s.redis.xlen(keys.stream('nope', 'normal'))).toBe(before);
    expect(await s.store.countByStatus('nope')).toEqual({ pending: 0, processing: 0, complete: 0, failed: 0, cancelled: 0 });
  });

  test('malformed JSON → 400', async () => {
    await expectProblem(await postJson(`${api.base}/jobs`, '{"vendor": "acme", '), 400, '/problems/malformed-json');
  });

  test('priority: stored on the job, queued in its lane, shown by GET; default normal; a bad one → 400 and nothing stored', async () => {
    const ids: Record<string, string> = {};
    for (const priority of ['high', 'low', undefined] as const) {
      const res = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: { p: priority ?? 'none' }, ...(priority ? { priority } : {}) });
      expect(res.status).toBe(202);
      ids[priority ?? 'default'] = ((await res.json()) as { request_id: string }).request_id;
    }
    const laneIds = async (lane: 'high' | 'normal' | 'low') => (await s.redis.xrange(keys.stream('acme', lane), '-', '+')).map(([, f]) => f[1]);
    expect(await laneIds('high')).toContain(ids.high);
    expect(await laneIds('low')).toContain(ids.low);
    expect(await laneIds('normal')).toContain(ids.default);
    expect(await laneIds('normal')).not.toContain(ids.high);
    expect((await s.store.get(ids.high!))?.priority).toBe('high');
    for (const [p, id] of [['high', ids.high], ['low', ids.low], ['normal', ids.default]] as const) {
      expect(((await (await fetch(`${api.base}/jobs/${id}`)).json()) as { priority: string }).priority).toBe(p);
    }
    const queued = await Promise.all((['high', 'normal', 'low'] as const).map((l) => s.redis.xlen(keys.stream('acme', l))));
    const body = await expectProblem(await postJson(`${api.base}/jobs`, { vendor: 'acme', priority: 'urgent', payload: {} }), 400, '/problems/validation');
    expect(body.errors).toEqual([{ field: 'priority', detail: 'must be one of high, normal, low' }]);
    expect(await Promise.all((['high', 'normal', 'low'] as const).map((l) => s.redis.xlen(keys.stream('acme', l))))).toEqual(queued);
  });

  test('Idempotency-Key: the same key with another priority is another request → 422', async () => {
    const key = `prio-${randomUUID()}`;
    expect((await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: { n: 1 } }, { 'Idempotency-Key': key })).status).toBe(202);
    await expectProblem(await postJson(`${api.base}/jobs`, { vendor: 'acme', priority: 'high', payload: { n: 1 } }, { 'Idempotency-Key': key }), 422);
    expect((await postJson(`${api.base}/jobs`, { vendor: 'acme', priority: 'normal', payload: { n: 1 } }, { 'Idempotency-Key': key })).status).toBe(202);
  });

  test('wrong types → 400 listing each bad field', async () => {
    const body = await expectProblem(await postJson(`${api.base}/jobs`, { vendor: 42, payload: [1, 2] }), 400, '/problems/validation');
    expect(body.errors?.map((e) => e.field).sort()).toEqual(['payload', 'vendor']);
  });

  test.each([
    ['an array', [1, 2]],
    ['a string', '"just a string"'],
    ['null', 'null'],
  ])('a body that is %s → 400', async (_name, raw) => {
    const res = await postJson(`${api.base}/jobs`, raw);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  test('a payload that is null or a string → 400', async () => {
    const body = await expectProblem(await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: 'x' }), 400);
    expect(body.errors?.map((e) => e.field)).toEqual(['payload']);
  });

  test('body over the limit → 413', async () => {
    const big = { vendor: 'acme', payload: { blob: 'x'.repeat(300 * 1024) } };
    await expectProblem(await postJson(`${api.base}/jobs`, big), 413, '/problems/payload-too-large');
  });

  test('Idempotency-Key: the same key returns the same request_id and creates nothing new', async () => {
    const key = `order-${randomUUID()}`;
    const first = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: { n: 1 } }, { 'Idempotency-Key': key });
    expect(first.status).toBe(202);
    const { request_id } = (await first.json()) as { request_id: string };
    const queuedBefore = await s.redis.xlen(keys.stream('acme', 'normal'));
    const again = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: { n: 1 } }, { 'Idempotency-Key': key });
    expect(again.status).toBe(202);
    expect(await again.json()).toEqual({ request_id });
    expect(again.headers.get('location')).toBe(`/jobs/${request_id}`);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await s.redis.xlen(keys.stream('acme', 'normal'))).toBe(queuedBefore);
  });

  test('Idempotency-Key: concurrent requests with one key make one job and one queue entry', async () => {
    const key = `burst-${randomUUID()}`;
    const queuedBefore = await s.redis.xlen(keys.stream('acme', 'normal'));
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => postJson(`${api.base}/jobs`, { vendor: 'acme', payload: { k: key } }, { 'Idempotency-Key': key })),
    );
    // Each is the one that made the job, a replay of it (202, same id), or a repeat that came
    // while the first was still in flight (409, IETF Idempotency-Key draft).
    expect(answers.every((r) => r.status === 202 || r.status === 409)).toBe(true);
    const accepted = answers.filter((r) => r.status === 202);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    const ids = new Set(await Promise.all(accepted.map(async (r) => ((await r.json()) as { request_id: string }).request_id)));
    expect(ids.size).toBe(1);
    expect(await s.redis.xlen(keys.stream('acme', 'normal'))).toBe(queuedBefore + 1);
  });

  test.each([['has space'], ['x'.repeat(256)], ['tab\tinside']])('malformed Idempotency-Key %# → 400', async (key) => {
    const body = await expectProblem(
      await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: {} }, { 'Idempotency-Key': key }),
      400,
    );
    expect(body.errors?.map((e) => e.field)).toEqual(['Idempotency-Key']);
  });
});

describe('GET /jobs/:id', () => {
  test('200 with the documented fields and ISO dates, never the payload', async () => {
    const created = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: { secret: 'p' } });
    const { request_id } = (await created.json()) as { request_id: string };
    const res = await fetch(`${api.base}/jobs/${request_id}`);
    expect(res.status).toBe(200);
    const job = (await res.json()) as Record<string, unknown>;
    expect(job).toEqual({
      request_id,
      vendor: 'acme',
      priority: 'normal',
      status: 'pending',
      attempts: 0,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
  });

  test('a finished job shows result and completed_at', async () => {
    const created = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: {} });
    const { request_id } = (await created.json()) as { request_id: string };
    await s.store.startAttempt(request_id, new Date(Date.now() + 60_000), new Date());
    await s.store.complete(request_id, { answer: 42 }, new Date());
    const job = (await (await fetch(`${api.base}/jobs/${request_id}`)).json()) as Record<string, unknown>;
    expect(job).toMatchObject({ status: 'complete', attempts: 1, result: { answer: 42 } });
    expect(job['completed_at']).toEqual(expect.stringMatching(/Z$/));
  });

  test('unknown id → 404', async () => {
    await expectProblem(await fetch(`${api.base}/jobs/${randomUUID()}`), 404, '/problems/not-found');
  });

  test('malformed id → 400', async () => {
    const body = await expectProblem(await fetch(`${api.base}/jobs/not-a-uuid`), 400, '/problems/validation');
    expect(body.errors?.map((e) => e.field)).toEqual(['id']);
  });
});

describe('other routes', () => {
  test('unknown route → 404 problem', async () => {
    await expectProblem(await fetch(`${api.base}/nope`), 404, '/problems/not-found');
  });

  test('/healthz 200, /readyz 200 with store and Redis up', async () => {
    expect((await fetch(`${api.base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${api.base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  test('/readyz 503 while draining', async () => {
    const lifecycle = { draining: false };
    const draining = await startApi(s, {}, { lifecycle });
    try {
      expect((await fetch(`${draining.base}/readyz`)).status).toBe(200);
      lifecycle.draining = true;
      await expectProblem(await fetch(`${draining.base}/readyz`), 503);
    } finally {
      await draining.close();
    }
  });

  test('/metrics counts submitted jobs by vendor and requests by route template and code', async () => {
    const before = (await api.metrics.jobsSubmitted.get()).values.find((v) => v.labels.vendor === 'acme')?.value ?? 0;
    await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: {} });
    await fetch(`${api.base}/jobs/${randomUUID()}`);
    const res = await fetch(`${api.metricsBase}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain(`vendorfetch_jobs_submitted_total{vendor="acme"} ${before + 1}`);
    expect(text).toMatch(/vendorfetch_http_requests_total\{method="GET",route="\/jobs\/:id",code="404"\} \d+/);
    expect(text).toMatch(/vendorfetch_http_request_duration_seconds_bucket\{le="0.05",method="POST",route="\/jobs",code="202"\} \d+/);
    expect(text).not.toMatch(/route="\/jobs\/[0-9a-f]{8}-/); // ids never become labels
  });

  test('/openapi.json describes the routes and the problem schema', async () => {
    const res = await fetch(`${api.base}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/jobs', '/jobs/{request_id}', '/vendor-webhook/{vendor}', '/healthz', '/readyz']),
    );
    expect(Object.keys(doc.paths)).not.toContain('/metrics'); // served on the metrics port only
    expect(doc.components.schemas['Problem']).toBeDefined();
  });
});

// Issue 10, items 6 and 8: hostile bodies that fit the size limit.
describe('hostile bodies within the size limit', () => {
  const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  const nestedArrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

  test('a payload of 5,000 nested objects → 400 problem+json, never 503, nothing stored', async () => {
    const before = await s.store.countByStatus('acme');
    const body = await expectProblem(
      await postJson(`${api.base}/jobs`, `{"vendor":"acme","payload":${nestedObjects(5000)}}`),
      400,
      '/problems/too-deep',
    );
    expect(JSON.stringify(body)).toMatch(/64/);
    expect(await s.store.countByStatus('acme')).toEqual(before);
  });

  test('100,000 nested arrays (about 200 KB) → 400 problem+json', async () => {
    const raw = `{"vendor":"acme","payload":{"x":${nestedArrays(100_000)}}}`;
    expect(raw.length).toBeLessThan(256 * 1024);
    await expectProblem(await postJson(`${api.base}/jobs`, raw), 400, '/problems/too-deep');
  });

  test('nesting up to the documented limit (64) is accepted, one level more is refused', async () => {
    // The body object is level 1 and the payload level 2: 62 more levels inside make 64.
    const ok = await postJson(`${api.base}/jobs`, `{"vendor":"acme","payload":${nestedObjects(63)}}`);
    expect(ok.status).toBe(202);
    const { request_id } = (await ok.json()) as { request_id: string };
    expect(await s.store.get(request_id)).toMatchObject({ status: 'pending' });
    await expectProblem(await postJson(`${api.base}/jobs`, `{"vendor":"acme","payload":${nestedObjects(64)}}`), 400, '/problems/too-deep');
  });

  test.each([
    ['1e400', '1e400'],
    ['-1e400', '-1e400'],
    ['a 401-digit integer', '1' + '0'.repeat(400)],
  ])('a non-finite number (%s) → 400, not stored as null', async (_name, num) => {
    const before = await s.store.countByStatus('acme');
    const body = await expectProblem(
      await postJson(`${api.base}/jobs`, `{"vendor":"acme","payload":{"amount":${num}}}`),
      400,
      '/problems/validation',
    );
    expect(body.errors?.[0]?.field).toBe('body');
    expect(await s.store.countByStatus('acme')).toEqual(before);
  });

  test('big but finite numbers and exponents still pass', async () => {
    const res = await postJson(`${api.base}/jobs`, '{"vendor":"acme","payload":{"a":1.7e308,"b":-2.5E-300,"c":123456789012345678901234567890}}');
    expect(res.status).toBe(202);
  });

  test('a webhook body nested too deep → 400 (after the signature check)', async () => {
    const raw = `{"request_id":"${randomUUID()}","data":${nestedArrays(100_000)}}`;
    const { signWebhook } = await import('../testing/api-app.js');
    const res = await postJson(`${api.base}/vendor-webhook/slowco`, raw, signWebhook(raw, { id: `deep-${randomUUID()}` }));
    await expectProblem(res, 400, '/problems/too-deep');
  });
});
