// POST /vendor-webhook/:vendor over real HTTP: signatures made by the test's own signer
// (testing/api-app.ts signWebhook), real Redis for the replay guard, the SQLite store.
import { randomUUID } from 'node:crypto';
import { REDACTED } from '../core/clean.js';
import { keys } from '../core/keys.js';
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

/** A job of `vendor` that a worker has started (processing), as an async vendor's job waits. */
async function processingJob(vendor = 'slowco'): Promise<string> {
  const res = await postJson(`${api.base}/jobs`, { vendor, payload: { q: 1 } });
  expect(res.status).toBe(202);
  const { request_id } = (await res.json()) as { request_id: string };
  expect(await s.store.startAttempt(request_id, new Date(Date.now() + 60_000), new Date())).not.toBeNull();
  return request_id;
}

async function deliver(vendor: string, body: unknown, sign: { id?: string; timestamp?: number; secret?: string } = {}, headers: Record<string, string> = {}) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const signed = signWebhook(raw, { id: sign.id ?? `msg_${randomUUID()}`, ...sign });
  return postJson(`${api.base}/vendor-webhook/${vendor}`, raw, { ...signed, ...headers });
}

const problemOf = async (res: Response) => {
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return (await res.json()) as { status: number; type: string; errors?: { field: string }[] };
};

const vendorData = {
  name: '  Ada Lovelace  ',
  email: 'ada@example.com',
  password: 'hunter2',
  internal_note: 'drop me',
  accounts: [{ ssn: '123-45-6789', note: ' card 4111 1111 1111 1111 ' }],
};
const cleanedData = {
  name: 'Ada Lovelace',
  email: REDACTED,
  accounts: [{ ssn: REDACTED, note: `card ${REDACTED}` }],
};

test('a good webhook completes the job with cleaned data (vendor rules + safe defaults, any depth)', async () => {
  const id = await processingJob();
  const res = await deliver('slowco', { request_id: id, data: vendorData });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'completed' });
  const job = (await (await fetch(`${api.base}/jobs/${id}`)).json()) as Record<string, unknown>;
  expect(job).toMatchObject({ status: 'complete', result: cleanedData });
  expect(JSON.stringify(job)).not.toMatch(/hunter2|ada@example|123-45-6789|4111/);
});

test('job_id is accepted as an alias of request_id', async () => {
  const id = await processingJob();
  const res = await deliver('slowco', { job_id: id, data: { ok: true } });
  expect(res.status).toBe(200);
  expect((await s.store.get(id))?.status).toBe('complete');
});

test('several signatures (secret rotation): one valid is enough', async () => {
  const id = await processingJob();
  const raw = JSON.stringify({ request_id: id, data: { v: 1 } });
  const good = signWebhook(raw, { id: 'msg_rot' });
  const old = signWebhook(raw, { id: 'msg_rot', secret: `whsec_${Buffer.from('old key').toString('base64')}` });
  const res = await postJson(`${api.base}/vendor-webhook/slowco`, raw, {
    ...good,
    'webhook-signature': `${old['webhook-signature']} ${good['webhook-signature']}`,
  });
  expect(res.status).toBe(200);
});

describe('401: bad or stale signatures change nothing', () => {
  let id: string;
  beforeAll(async () => {
    id = await processingJob();
  });
  afterEach(async () => {
    expect((await s.store.get(id))?.status).toBe('processing');
  });

  test('signed with another secret', async () => {
    const res = await deliver('slowco', { request_id: id, data: {} }, { secret: `whsec_${Buffer.from('wrong').toString('base64')}` });
    expect(res.status).toBe(401);
    expect((await problemOf(res)).status).toBe(401);
  });

  test('body changed after signing', async () => {
    const raw = JSON.stringify({ request_id: id, data: { a: 1 } });
    const signed = signWebhook(raw, { id: `msg_${randomUUID()}` });
    const res = await postJson(`${api.base}/vendor-webhook/slowco`, raw.replace('1', '2'), signed);
    expect(res.status).toBe(401);
  });

  test('stale timestamp (6 minutes old) and one too far in the future', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await deliver('slowco', { request_id: id, data: {} }, { timestamp: now - 360 })).status).toBe(401);
    expect((await deliver('slowco', { request_id: id, data: {} }, { timestamp: now + 360 })).status).toBe(401);
  });

  test('a timestamp 4 minutes old is still inside the tolerance', async () => {
    const other = await processingJob();
    const res = await deliver('slowco', { request_id: other, data: {} }, { timestamp: Math.floor(Date.now() / 1000) - 240 });
    expect(res.status).toBe(200);
  });

  test('missing headers', async () => {
    const res = await postJson(`${api.base}/vendor-webhook/slowco`, { request_id: id, data: {} });
    expect(res.status).toBe(401);
  });

  test('a signature that is not v1', async () => {
    const raw = JSON.stringify({ request_id: id, data: {} });
    const signed = signWebhook(raw, { id: `msg_${randomUUID()}` });
    const res = await postJson(`${api.base}/vendor-webhook/slowco`, raw, {
      ...signed,
      'webhook-signature': signed['webhook-signature'].replace('v1,', 'v2,'),
    });
    expect(res.status).toBe(401);
  });
});

test('replayed webhook-id → 200, changes nothing', async () => {
  const id = await processingJob();
  const webhookId = `msg_${randomUUID()}`;
  expect((await deliver('slowco', { request_id: id, data: { first: true } }, { id: webhookId })).status).toBe(200);
  const after = await s.store.get(id);
  // Same id, even a different (validly signed) body: answered 200, nothing changes.
  const replay = await deliver('slowco', { request_id: id, data: { second: true } }, { id: webhookId });
  expect(replay.status).toBe(200);
  expect(await replay.json()).toEqual({ status: 'duplicate' });
  expect(await s.store.get(id)).toEqual(after);
});

test('a repeat while the first copy is still being handled → 409 + Retry-After, then 200 once done', async () => {
  const id = await processingJob();
  const webhookId = `msg_${randomUUID()}`;
  await s.redis.set(keys.webhookSeen('slowco', webhookId), 'processing', 'EX', 60); // first copy mid-way
  const early = await deliver('slowco', { request_id: id, data: {} }, { id: webhookId });
  expect(early.status).toBe(409);
  expect(early.headers.get('retry-after')).toBe('1');
  expect((await s.store.get(id))?.status).toBe('processing');
  await s.redis.set(keys.webhookSeen('slowco', webhookId), 'done', 'EX', 60); // first copy answered
  const later = await deliver('slowco', { request_id: id, data: {} }, { id: webhookId });
  expect(later.status).toBe(200);
  expect(await later.json()).toEqual({ status: 'duplicate' });
});

test('duplicate delivery (new webhook-id) of a completed job → 200, unchanged', async () => {
  const id = await processingJob();
  expect((await deliver('slowco', { request_id: id, data: { n: 1 } })).status).toBe(200);
  const after = await s.store.get(id);
  const second = await deliver('slowco', { request_id: id, data: { n: 2 } });
  expect(second.status).toBe(200);
  expect(await second.json()).toEqual({ status: 'ignored' });
  expect(await s.store.get(id)).toEqual(after);
});

// Issue 10 item 3: our call timed out, but the vendor had accepted the job; the job went back
// to pending with a retry scheduled. The vendor's signed answer must complete it (and cancel
// the retry), not be dropped as "ignored" while the vendor is called and paid again.
test('a signed completion for a pending job (retry scheduled) completes it and cancels the retry', async () => {
  const id = await processingJob();
  const later = Date.now() + 60_000;
  expect(await s.store.releaseForRetry(id, 'vendor_timeout: no answer within 10s', new Date(later), new Date())).toBe(true);
  await s.redis.zadd(keys.delayed('slowco', 'normal'), later, id);
  await s.redis.hincrby(keys.freeCalls('slowco'), id, 1);
  const res = await deliver('slowco', { request_id: id, data: vendorData });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'completed' });
  expect(await s.store.get(id)).toMatchObject({ status: 'complete', result: cleanedData });
  expect(await s.redis.zscore(keys.delayed('slowco', 'normal'), id)).toBeNull(); // the retry is cancelled
  expect(await s.redis.hexists(keys.freeCalls('slowco'), id)).toBe(0); // item 5: nothing left behind
  const again = await deliver('slowco', { request_id: id, data: { other: 1 } });
  expect(await again.json()).toEqual({ status: 'ignored' });
  expect((await s.store.get(id))?.result).toEqual(cleanedData);
});

test('a webhook for a job that was never sent to the vendor (0 attempts) changes nothing', async () => {
  const res = await postJson(`${api.base}/jobs`, { vendor: 'slowco', payload: { q: 1 } });
  const { request_id } = (await res.json()) as { request_id: string };
  const wh = await deliver('slowco', { request_id, data: {} });
  expect(await wh.json()).toEqual({ status: 'ignored' });
  expect((await s.store.get(request_id))?.status).toBe('pending');
});

test('concurrent duplicate deliveries complete the job once', async () => {
  const id = await processingJob();
  const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => deliver('slowco', { request_id: id, data: { i } })));
  const bodies = await Promise.all(answers.map(async (r) => ((await r.json()) as { status: string }).status));
  expect(answers.every((r) => r.status === 200)).toBe(true);
  expect(bodies.filter((b) => b === 'completed')).toHaveLength(1);
});

test('unknown job → 404; the webhook-id is not burned, so a later correct delivery still counts', async () => {
  const webhookId = `msg_${randomUUID()}`;
  const res = await deliver('slowco', { request_id: randomUUID(), data: {} }, { id: webhookId });
  expect(res.status).toBe(404);
  expect(await s.redis.exists(keys.webhookSeen('slowco', webhookId))).toBe(0);
  const id = await processingJob();
  expect((await deliver('slowco', { request_id: id, data: {} }, { id: webhookId })).status).toBe(200);
});

test('job of another vendor → 409, unchanged', async () => {
  const id = await processingJob('otherco');
  const res = await deliver('slowco', { request_id: id, data: {} });
  expect(res.status).toBe(409);
  expect((await problemOf(res)).type).toBe(`${api.base}/problems/conflict`);
  expect((await s.store.get(id))?.status).toBe('processing');
});

test('unknown vendor, and a sync vendor (it has no webhook) → 404', async () => {
  expect((await deliver('nobody', { request_id: randomUUID(), data: {} })).status).toBe(404);
  expect((await deliver('acme', { request_id: randomUUID(), data: {} })).status).toBe(404);
});

test('vendor whose secret is not configured → 503 (an operator error; the vendor retries)', async () => {
  const res = await deliver('nosecret', { request_id: randomUUID(), data: {} });
  expect(res.status).toBe(503);
});

describe('400: signed but bad bodies', () => {
  test('malformed JSON', async () => {
    const res = await deliver('slowco', '{"request_id": ');
    expect(res.status).toBe(400);
    expect((await problemOf(res)).type).toBe(`${api.base}/problems/malformed-json`);
  });

  test('no request_id, no data, a malformed id', async () => {
    const missing = await problemOf(await deliver('slowco', { data: {} }));
    expect(missing.errors?.map((e) => e.field)).toEqual(['request_id']);
    const noData = await problemOf(await deliver('slowco', { request_id: randomUUID() }));
    expect(noData.errors?.map((e) => e.field)).toEqual(['data']);
    const badId = await problemOf(await deliver('slowco', { request_id: 'job-1', data: {} }));
    expect(badId.status).toBe(400);
    expect(badId.errors?.map((e) => e.field)).toEqual(['request_id']);
  });

  test('over the body limit → 413', async () => {
    const res = await deliver('slowco', { request_id: randomUUID(), data: { blob: 'x'.repeat(300 * 1024) } });
    expect(res.status).toBe(413);
  });
});

test('webhook outcomes are counted by vendor and result', async () => {
  const text = await (await fetch(`${api.metricsBase}/metrics`)).text();
  expect(text).toMatch(/vendorfetch_webhooks_total\{vendor="slowco",result="completed"\} [1-9]/);
  expect(text).toMatch(/vendorfetch_webhooks_total\{vendor="slowco",result="bad_signature"\} [1-9]/);
  expect(text).toMatch(/vendorfetch_webhooks_total\{vendor="slowco",result="stale"\} [1-9]/);
  expect(text).toMatch(/vendorfetch_webhooks_total\{vendor="slowco",result="duplicate"\} [1-9]/);
  expect(text).toMatch(/vendorfetch_webhooks_total\{vendor="_unknown",result="unknown_vendor"\} [1-9]/);
  expect(text).not.toContain('nobody');
});
