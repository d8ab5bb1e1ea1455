// Pure parts of the api: signature verification, submission parsing, config, error mapping.
import { createHmac, randomUUID } from 'node:crypto';
import { VendorfetchError, unavailable } from '../core/errors.js';
import { parseApiConfig } from './config.js';
import { toProblem } from './problem.js';
import { verifyWebhook } from './signature.js';
import { isRequestId, parseIdempotencyKey, parseSubmission } from './submission.js';

describe('verifyWebhook', () => {
  // Independent signer, straight from the Standard Webhooks spec.
  const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
  const sign = (id: string, ts: string, body: string, key = secret) =>
    `v1,${createHmac('sha256', Buffer.from(key.slice(6), 'base64')).update(`${id}.${ts}.${body}`).digest('base64')}`;
  const now = 1_763_700_000_000;
  const ts = String(now / 1000);
  const body = '{"request_id":"x","data":{}}';

  test('accepts a correct signature, also among others', () => {
    expect(verifyWebhook({ id: 'm1', timestamp: ts, signature: sign('m1', ts, body) }, Buffer.from(body), secret, now)).toEqual({ ok: true });
    const several = `v1,AAAA v2,zzz ${sign('m1', ts, body)}`;
    expect(verifyWebhook({ id: 'm1', timestamp: ts, signature: several }, Buffer.from(body), secret, now).ok).toBe(true);
  });

  test.each([
    ['another id', { id: 'm2' }, 'bad_signature'],
    ['another body', { body: body.replace('{}', '{"a":1}') }, 'bad_signature'],
    ['no id', { id: '' }, 'missing_headers'],
    ['a timestamp that is not a number', { timestamp: '17637e5' }, 'bad_timestamp'],
    ['5 min + 1 s old', { timestamp: String(now / 1000 - 301) }, 'stale'],
    ['5 min + 1 s ahead', { timestamp: String(now / 1000 + 301) }, 'stale'],
  ])('rejects %s', (_name, change: { id?: string; body?: string; timestamp?: string }, reason) => {
    const signature = sign('m1', change.timestamp ?? ts, body);
    const r = verifyWebhook(
      { id: change.id ?? 'm1', timestamp: change.timestamp ?? ts, signature },
      Buffer.from(change.body ?? body),
      secret,
      now,
    );
    expect(r).toEqual({ ok: false, reason });
  });

  test('exactly at the tolerance edge is still accepted', () => {
    const edge = String(now / 1000 - 300);
    expect(verifyWebhook({ id: 'm1', timestamp: edge, signature: sign('m1', edge, body) }, Buffer.from(body), secret, now).ok).toBe(true);
  });

  test('a secret that is not base64 is reported, not thrown', () => {
    expect(verifyWebhook({ id: 'm1', timestamp: ts, signature: 'v1,AAAA' }, Buffer.from(body), 'whsec_***', now)).toEqual({
      ok: false,
      reason: 'bad_secret',
    });
  });
});

describe('parseSubmission', () => {
  test('documented form', () => {
    expect(parseSubmission({ vendor: 'a', payload: { x: 1 }, extra: true })).toEqual({ ok: true, vendor: 'a', payload: { x: 1 } });
  });
  test('lenient forms', () => {
    expect(parseSubmission({ vendor: 'a', x: 1 })).toEqual({ ok: true, vendor: 'a', payload: { x: 1 } });
    expect(parseSubmission({ x: 1 })).toEqual({ ok: true, vendor: undefined, payload: { x: 1 } });
    expect(parseSubmission({})).toEqual({ ok: true, vendor: undefined, payload: {} });
  });
  test('wrong types list each field', () => {
    const r = parseSubmission({ vendor: ['a'], payload: null });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.field)).toEqual(['vendor', 'payload']);
    expect(parseSubmission([{ vendor: 'a' }])).toEqual({ ok: false, errors: [{ field: 'body', detail: 'must be a JSON object, got array' }] });
    expect(parseSubmission(undefined).ok).toBe(false);
  });
  test('ids and idempotency keys', () => {
    expect(isRequestId(randomUUID())).toBe(true);
    expect(isRequestId('123')).toBe(false);
    expect(parseIdempotencyKey(undefined)).toEqual({ ok: true, key: undefined });
    expect(parseIdempotencyKey('order-17/a')).toEqual({ ok: true, key: 'order-17/a' });
    expect(parseIdempotencyKey('').ok).toBe(false);
    expect(parseIdempotencyKey(['a', 'b']).ok).toBe(false);
    expect(parseIdempotencyKey('é').ok).toBe(false);
  });
});

describe('parseApiConfig', () => {
  test('defaults', () => {
    const r = parseApiConfig({});
    expect(r.ok && r.config).toMatchObject({
      PORT: 8080,
      REDIS_URL: 'redis://127.0.0.1:6379',
      VF_SQLITE_PATH: '.data/vendorfetch.db',
      VF_BODY_LIMIT: '256kb',
      VF_API_KEYS: [],
      VF_PENDING_TIMEOUT_SECONDS: 600,
      LOG_LEVEL: 'info',
      API_METRICS_PORT: 8083,
      VF_WEBHOOK_RATE_LIMIT: 1000,
      VF_MAX_JSON_DEPTH: 64,
    });
    expect(r.ok && r.config.MONGODB_URL).toBeUndefined();
    expect(r.ok && r.config.VF_CLIENT_RATE_LIMIT).toBeUndefined();
  });
  test('values, and empty variables count as unset', () => {
    const r = parseApiConfig({ PORT: '9000', VF_API_KEYS: ' a, b ,', VF_CLIENT_RATE_LIMIT: '50', MONGODB_URL: '', VF_DEFAULT_VENDOR: 'sync' });
    expect(r.ok && r.config).toMatchObject({ PORT: 9000, VF_API_KEYS: ['a', 'b'], VF_CLIENT_RATE_LIMIT: 50, VF_DEFAULT_VENDOR: 'sync' });
    expect(r.ok && r.config.MONGODB_URL).toBeUndefined();
  });
  test('every problem at once', () => {
    const r = parseApiConfig({ PORT: 'eighty', REDIS_URL: 'http://x', VF_BODY_LIMIT: 'lots', LOG_LEVEL: 'loud', VF_CLIENT_RATE_LIMIT: '0' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems.map((p) => p.split(':')[0])).toEqual(['PORT', 'REDIS_URL', 'VF_BODY_LIMIT', 'VF_CLIENT_RATE_LIMIT', 'LOG_LEVEL']);
    }
  });
});

describe('toProblem', () => {
  test('our errors keep status and field list', () => {
    const err = new VendorfetchError('validation', 'bad', { httpStatus: 400, retryable: false, details: { errors: [{ field: 'a', detail: 'b' }] } });
    expect(toProblem(err)).toEqual({ type: '/problems/validation', title: 'Invalid request', status: 400, detail: 'bad', errors: [{ field: 'a', detail: 'b' }] });
  });
  test('a dependency outage says which, never the cause', () => {
    const p = toProblem(unavailable('job store', new Error('connect ECONNREFUSED 10.0.0.7:27017 user=admin')));
    expect(p).toMatchObject({ status: 503, detail: 'job store is unavailable' });
    expect(JSON.stringify(p)).not.toContain('10.0.0.7');
  });
  test('body-parser errors', () => {
    expect(toProblem({ type: 'entity.parse.failed', status: 400 }).status).toBe(400);
    expect(toProblem({ type: 'entity.too.large', status: 413, limit: 262144 })).toMatchObject({ status: 413, type: '/problems/payload-too-large' });
  });
  test('anything else → 500 without internals', () => {
    const p = toProblem(new TypeError('cannot read x of undefined at /srv/app.js:12'));
    expect(p).toEqual({ type: '/problems/internal', title: 'Internal server error', status: 500, detail: 'an unexpected error occurred' });
  });
});
