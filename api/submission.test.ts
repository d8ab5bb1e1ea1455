// What a client sent to POST /jobs: the documented and the lenient body forms, request ids and
// Idempotency-Key headers.
import { randomUUID } from 'node:crypto';
import { isRequestId, parseIdempotencyKey, parseSubmission } from './submission.js';

describe('parseSubmission', () => {
  test('the documented form: vendor and payload; other fields are ignored', () => {
    expect(parseSubmission({ vendor: 'a', payload: { x: 1 }, extra: true })).toEqual({ ok: true, vendor: 'a', priority: 'normal', payload: { x: 1 } });
  });
  test('the lenient forms: without payload the rest of the body is the payload; vendor may be left out', () => {
    expect(parseSubmission({ vendor: 'a', x: 1 })).toEqual({ ok: true, vendor: 'a', priority: 'normal', payload: { x: 1 } });
    expect(parseSubmission({ x: 1 })).toEqual({ ok: true, vendor: undefined, priority: 'normal', payload: { x: 1 } });
    expect(parseSubmission({})).toEqual({ ok: true, vendor: undefined, priority: 'normal', payload: {} });
  });
  test('priority: high, normal or low, top-level in both forms and never part of the payload; anything else is a field error', () => {
    expect(parseSubmission({ vendor: 'a', priority: 'high', payload: { x: 1 } })).toEqual({ ok: true, vendor: 'a', priority: 'high', payload: { x: 1 } });
    expect(parseSubmission({ vendor: 'a', priority: 'low', x: 1 })).toEqual({ ok: true, vendor: 'a', priority: 'low', payload: { x: 1 } });
    for (const bad of ['urgent', 'HIGH', 1, null, ['high']]) {
      expect(parseSubmission({ vendor: 'a', priority: bad, payload: {} })).toEqual({
        ok: false,
        errors: [{ field: 'priority', detail: 'must be one of high, normal, low' }],
      });
    }
  });
  test('priority and callback_url together: both top-level, neither part of the payload (lenient form too); both checked', () => {
    const url = 'https://hooks.example.com/x';
    expect(parseSubmission({ vendor: 'a', priority: 'high', callback_url: url, payload: { x: 1 } })).toStrictEqual({ ok: true, vendor: 'a', priority: 'high', payload: { x: 1 }, callbackUrl: url });
    expect(parseSubmission({ vendor: 'a', priority: 'low', callback_url: url, x: 1 })).toStrictEqual({ ok: true, vendor: 'a', priority: 'low', payload: { x: 1 }, callbackUrl: url });
    const r = parseSubmission({ vendor: 'a', priority: 'urgent', callback_url: 'ftp://x', payload: {} });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.field)).toEqual(['priority', 'callback_url']);
  });
  test('wrong types list each field; a body that is not an object is one error', () => {
    const r = parseSubmission({ vendor: ['a'], payload: null });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.field)).toEqual(['vendor', 'payload']);
    expect(parseSubmission([{ vendor: 'a' }])).toEqual({ ok: false, errors: [{ field: 'body', detail: 'must be a JSON object, got array' }] });
    expect(parseSubmission(undefined).ok).toBe(false);
  });
});

describe('isRequestId and parseIdempotencyKey', () => {
  test('a request id is a UUID; a key is 1-255 visible ASCII characters (no spaces), one header, or absent', () => {
    expect(isRequestId(randomUUID())).toBe(true);
    expect(isRequestId('123')).toBe(false);
    expect(parseIdempotencyKey(undefined)).toEqual({ ok: true, key: undefined });
    expect(parseIdempotencyKey('order-17/a')).toEqual({ ok: true, key: 'order-17/a' });
    expect(parseIdempotencyKey('').ok).toBe(false);
    expect(parseIdempotencyKey(['a', 'b']).ok).toBe(false);
    expect(parseIdempotencyKey('é').ok).toBe(false);
  });
});
