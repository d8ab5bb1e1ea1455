// Interoperability with the reference implementation of Standard Webhooks (the `standardwebhooks`
// package, a devDependency used only here): what it signs, api/signature.ts accepts; what our
// signers produce (the async vendor mock's, and the api tests' own), it accepts.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { signWebhook as mockSign } from '../vendor-mocks/signing.js';
import { verifyWebhook } from './signature.js';
import { signWebhook as testSign } from '../testing/api-app.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const body = JSON.stringify({ request_id: '0198c2a0-7b1e-7cc0-8f00-4a6f2b5d3e10', data: { company: 'Acme', note: 'ünïcödé ✓' } });
const msgId = 'msg_2bQk0tWvN8xJ3a';

const ourSignature = (id: string, ts: number, payload: string, key = secret) => mockSign(key, id, ts, payload);

describe('signed by standardwebhooks, verified by ours', () => {
  const nowMs = Date.now();
  const ts = Math.floor(nowMs / 1000);
  const signature = new Webhook(secret).sign(msgId, new Date(ts * 1000), body);

  test('accepted', () => {
    const headers = { id: msgId, timestamp: String(ts), signature };
    expect(verifyWebhook(headers, Buffer.from(body), secret, nowMs)).toEqual({ ok: true });
  });

  test('a changed body or id is rejected', () => {
    expect(verifyWebhook({ id: msgId, timestamp: String(ts), signature }, Buffer.from(body.replace('Acme', 'Acne')), secret, nowMs)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verifyWebhook({ id: 'msg_other', timestamp: String(ts), signature }, Buffer.from(body), secret, nowMs).ok).toBe(false);
  });
});

describe('signed by ours, verified by standardwebhooks', () => {
  const ts = Math.floor(Date.now() / 1000);

  test('accepted (it checks the timestamp against its own clock, 5 minutes tolerance)', () => {
    const headers = { 'webhook-id': msgId, 'webhook-timestamp': String(ts), 'webhook-signature': ourSignature(msgId, ts, body) };
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  test('among several signatures (secret rotation), as both sides read them', () => {
    const old = `whsec_${randomBytes(32).toString('base64')}`;
    const both = `${ourSignature(msgId, ts, body, old)} ${ourSignature(msgId, ts, body)}`;
    const headers = { 'webhook-id': msgId, 'webhook-timestamp': String(ts), 'webhook-signature': both };
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(verifyWebhook({ id: msgId, timestamp: String(ts), signature: both }, Buffer.from(body), secret, ts * 1000)).toEqual({ ok: true });
  });

  test('signed with another secret: rejected', () => {
    const other = `whsec_${randomBytes(32).toString('base64')}`;
    const headers = { 'webhook-id': msgId, 'webhook-timestamp': String(ts), 'webhook-signature': ourSignature(msgId, ts, body, other) };
    expect(() => new Webhook(secret).verify(body, headers)).toThrow();
  });

  test('the api tests\' signer too', () => {
    const headers = testSign(body, { id: msgId, timestamp: ts, secret });
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  test('both produce the same signature for the same message', () => {
    expect(new Webhook(secret).sign(msgId, new Date(ts * 1000), body)).toBe(ourSignature(msgId, ts, body));
  });
});
