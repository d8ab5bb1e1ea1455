// verifyWebhook, the Standard Webhooks check, against an independent signer written from the
// spec. Interoperability with the reference package is in signature-interop.test.ts.
import { createHmac } from 'node:crypto';
import { verifyWebhook } from './signature.js';

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
