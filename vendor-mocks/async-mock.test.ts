import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { startAsyncMock, type AsyncMock } from './async-mock.js';
import { SENSITIVE_VALUES } from './fixture.js';
import { delay, startWebhookReceiver, until, type ReceivedWebhook, type WebhookReceiver } from './test-support.js';

const post = (url: string, body: unknown): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

const SECRET = `whsec_${randomBytes(24).toString('base64')}`;

/** Independent Standard Webhooks verification (does not use the mock's signing code). */
function signatureValid(w: ReceivedWebhook, secret: string): boolean {
  const id = String(w.headers['webhook-id']);
  const ts = String(w.headers['webhook-timestamp']);
  const expected = createHmac('sha256', Buffer.from(secret.replace(/^whsec_/, ''), 'base64'))
    .update(`${id}.${ts}.${w.rawBody}`)
    .digest();
  const sigs = String(w.headers['webhook-signature']).split(' ');
  return sigs.some((s) => {
    const [version, b64] = s.split(',');
    if (version !== 'v1' || b64 === undefined) return false;
    const got = Buffer.from(b64, 'base64');
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

const bodyOf = (w: ReceivedWebhook): Record<string, any> => JSON.parse(w.rawBody) as Record<string, any>;

describe('async mock vendor', () => {
  let mock: AsyncMock | undefined;
  let rx: WebhookReceiver;
  beforeEach(async () => {
    rx = await startWebhookReceiver();
  });
  afterEach(async () => {
    await mock?.close();
    mock = undefined;
    await rx.close();
  });

  const start = async (knobs: Parameters<typeof startAsyncMock>[0] = {}): Promise<AsyncMock> =>
    (mock = await startAsyncMock({ webhookUrl: `${rx.url}/vendor-webhook/async`, webhookSecret: SECRET, delayMs: 20, ...knobs }));

  it('answers 202 at once, then POSTs a correctly signed webhook carrying the raw vendor data (padded strings, PII)', async () => {
    const m = await start({ delayMs: 1000 });
    const t0 = Date.now();
    const res = await post(m.fetchUrl, { request_id: 'r-1', payload: { q: 1 } });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ request_id: 'r-1', status: 'accepted' });
    expect(rx.received).toHaveLength(0); // the 202 comes first, the webhook only after delayMs
    await until(() => rx.received.length === 1, 3000, 'webhook');
    const w = rx.received[0]!;
    expect(w.at - t0).toBeGreaterThanOrEqual(990);
    expect(w.path).toBe('/vendor-webhook/async');
    expect(w.headers['content-type']).toBe('application/json');
    expect(String(w.headers['webhook-id'])).toMatch(/^msg_/);
    expect(Math.abs(Number(w.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(5);
    expect(signatureValid(w, SECRET)).toBe(true);
    expect(signatureValid(w, `whsec_${randomBytes(24).toString('base64')}`)).toBe(false);
    const body = bodyOf(w);
    expect(body.request_id).toBe('r-1');
    expect(body.data.echo).toEqual({ request_id: 'r-1', payload: { q: 1 } });
    expect(body.data.customer.name).toBe('  Ada Lovelace  ');
    for (const v of SENSITIVE_VALUES) expect(w.rawBody).toContain(v);
    await until(() => m.counters().webhooksPending === 0);
    expect(m.counters()).toMatchObject({ requests: 1, served: 1, accepted: 1, webhooksScheduled: 1, webhooksSent: 1, webhookAttempts: 1, webhookStatuses: { '200': 1 } });
  });

  it('a callback_url in the request wins over webhookUrl; job_id is answered as job_id', async () => {
    const m = await start();
    expect((await post(m.fetchUrl, { job_id: 'j-9', callback_url: `${rx.url}/elsewhere` })).status).toBe(202);
    await until(() => rx.received.length === 1);
    expect(rx.received[0]!.path).toBe('/elsewhere');
    expect(bodyOf(rx.received[0]!).job_id).toBe('j-9');
    expect(bodyOf(rx.received[0]!).request_id).toBeUndefined();
  });

  it('refuses requests without an id or a callback target (400 problem+json, not served)', async () => {
    const m = await start();
    const noId = await post(m.fetchUrl, { payload: {} });
    expect(noId.status).toBe(400);
    expect(noId.headers.get('content-type')).toBe('application/problem+json');
    const badUrl = await post(m.fetchUrl, { request_id: 'x', callback_url: 'ftp://nope' });
    expect(badUrl.status).toBe(400);
    m.configure({ webhookUrl: null });
    expect((await post(m.fetchUrl, { request_id: 'x' })).status).toBe(400);
    expect(m.counters()).toMatchObject({ requests: 3, badRequests: 3, served: 0, accepted: 0 });
  });

  it('duplicate delivers twice with the same webhook-id, both validly signed', async () => {
    const m = await start({ duplicate: true, duplicateGapMs: 30 });
    await post(m.fetchUrl, { request_id: 'd-1' });
    await until(() => rx.received.length === 2);
    const [a, b] = rx.received as [ReceivedWebhook, ReceivedWebhook];
    expect(a.headers['webhook-id']).toBe(b.headers['webhook-id']);
    expect(a.rawBody).toBe(b.rawBody);
    expect(signatureValid(a, SECRET) && signatureValid(b, SECRET)).toBe(true);
    await until(() => m.counters().webhooksPending === 0);
    expect(m.counters()).toMatchObject({ webhooksScheduled: 1, webhooksSent: 2 });
  });

  it('never accepts but delivers nothing', async () => {
    const m = await start({ never: true });
    expect((await post(m.fetchUrl, { request_id: 'n-1' })).status).toBe(202);
    await delay(300);
    expect(rx.received).toHaveLength(0);
    expect(m.counters()).toMatchObject({ accepted: 1, webhooksDropped: 1, webhooksScheduled: 0, webhooksPending: 0 });
  });

  it('outOfOrder delivers each batch newest first', async () => {
    const m = await start({ outOfOrder: true, outOfOrderBatchSize: 3, delayMs: 2000 });
    for (const id of ['o-1', 'o-2', 'o-3']) expect((await post(m.fetchUrl, { request_id: id })).status).toBe(202);
    // The batch is full at 3, so it goes at once rather than after delayMs.
    await until(() => rx.received.length === 3, 1500);
    expect(rx.received.map((w) => bodyOf(w).request_id)).toEqual(['o-3', 'o-2', 'o-1']);
    // A partial batch goes after delayMs from its first arrival, still newest first.
    m.configure({ delayMs: 800 });
    for (const id of ['o-4', 'o-5']) await post(m.fetchUrl, { request_id: id });
    await until(() => rx.received.length === 5, 3000);
    expect(rx.received.slice(3).map((w) => bodyOf(w).request_id)).toEqual(['o-5', 'o-4']);
  });

  it('late delivers after lateDelayMs instead of delayMs', async () => {
    const m = await start({ late: true, lateDelayMs: 700 });
    const t0 = Date.now();
    await post(m.fetchUrl, { request_id: 'l-1' });
    await delay(300);
    expect(rx.received).toHaveLength(0);
    await until(() => rx.received.length === 1, 3000);
    expect(rx.received[0]!.at - t0).toBeGreaterThanOrEqual(690);
  });

  it('wrongSignature and staleTimestamp produce webhooks a correct verifier must reject', async () => {
    const m = await start({ wrongSignature: true });
    await post(m.fetchUrl, { request_id: 'w-1' });
    await until(() => rx.received.length === 1);
    expect(signatureValid(rx.received[0]!, SECRET)).toBe(false);

    m.configure({ wrongSignature: false, staleTimestamp: true });
    await post(m.fetchUrl, { request_id: 'w-2' });
    await until(() => rx.received.length === 2);
    const stale = rx.received[1]!;
    expect(signatureValid(stale, SECRET)).toBe(true); // correctly signed, but…
    expect(Date.now() / 1000 - Number(stale.headers['webhook-timestamp'])).toBeGreaterThan(590); // …10 minutes old
  });

  it('retries on 5xx with a bound and stops at a 4xx', async () => {
    const m = await start({ webhookRetryBaseMs: 20, webhookMaxAttempts: 4 });
    rx.answerWith = (n) => (n < 2 ? 503 : 200);
    await post(m.fetchUrl, { request_id: 'x-1' });
    await until(() => m.counters().webhooksSent === 1);
    expect(rx.received.map((w) => w.headers['webhook-id'])).toEqual(Array(3).fill(rx.received[0]!.headers['webhook-id']));
    expect(m.counters()).toMatchObject({ webhookAttempts: 3, webhookRetries: 2, webhookFailures: 0, webhookStatuses: { '503': 2, '200': 1 } });

    m.reset();
    rx.received.length = 0;
    rx.answerWith = () => 500;
    await post(m.fetchUrl, { request_id: 'x-2' });
    await until(() => m.counters().webhookFailures === 1, 3000);
    expect(rx.received).toHaveLength(4);

    m.reset();
    rx.received.length = 0;
    rx.answerWith = () => 401;
    await post(m.fetchUrl, { request_id: 'x-3' });
    await until(() => m.counters().webhookFailures === 1);
    expect(rx.received).toHaveLength(1);
    expect(m.counters().webhookStatuses).toEqual({ '401': 1 });
  });

  it('retries connection errors, then gives up', async () => {
    const m = await start({ webhookRetryBaseMs: 10, webhookMaxAttempts: 3 });
    const deadUrl = rx.url;
    await rx.close();
    await post(m.fetchUrl, { request_id: 'c-1', callback_url: `${deadUrl}/gone` });
    await until(() => m.counters().webhookFailures === 1, 3000);
    expect(m.counters()).toMatchObject({ webhookAttempts: 3, webhooksSent: 0, webhookStatuses: { error: 3 } });
    rx = await startWebhookReceiver(); // afterEach closes it
  });

  it('the fetch knobs apply to the async mock too (strict limit → 429, no webhook)', async () => {
    const m = await start({ limitPerSecond: 1 });
    expect((await post(m.fetchUrl, { request_id: 'q-1' })).status).toBe(202);
    expect((await post(m.fetchUrl, { request_id: 'q-2' })).status).toBe(429);
    await until(() => rx.received.length === 1);
    await delay(100);
    expect(rx.received).toHaveLength(1);
    expect(m.counters()).toMatchObject({ violations: 1, served: 1, accepted: 1, maxRateInAnyRollingSecond: 1 });
  });

  it('close() cancels pending deliveries and returns promptly', async () => {
    const m = await start({ late: true, lateDelayMs: 60_000 });
    await post(m.fetchUrl, { request_id: 'p-1' });
    expect(m.counters().webhooksPending).toBe(1);
    const t0 = Date.now();
    await m.close();
    expect(Date.now() - t0).toBeLessThan(3000); // far below lateDelayMs: nothing waited for it
    expect(rx.received).toHaveLength(0);
  });

  it('GET /_config hides the secret', async () => {
    const m = await start();
    const cfg = (await (await fetch(`${m.url}/_config`)).json()) as Record<string, unknown>;
    expect(cfg.webhookSecret).toBe('(set)');
    expect(JSON.stringify(cfg)).not.toContain(SECRET.slice(6));
  });
});
