// Signing in the Standard Webhooks form (https://www.standardwebhooks.com), for what vendorfetch
// sends: completion callbacks (worker/callbacks.ts). The api's verifying side is api/signature.ts;
// the vendor mocks sign on their own (vendor-mocks/signing.ts) so that a shared mistake cannot
// hide. Pure: the same id, timestamp, body and secret always give the same signature.
import { createHmac } from 'node:crypto';

/** The HMAC key of a `whsec_<base64>` secret. */
function keyOf(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

/** `v1,<base64 HMAC-SHA256 of "${id}.${timestampSeconds}.${body}">`. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', keyOf(secret)).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The three headers of one delivery; a new timestamp (and so signature) on every attempt. */
export function webhookHeaders(secret: string, id: string, timestampSeconds: number, body: string): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signWebhook(secret, id, timestampSeconds, body),
  };
}
