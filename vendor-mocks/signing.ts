// Standard Webhooks signing (https://www.standardwebhooks.com), written here on purpose rather
// than shared with the product: if both sides used one helper, a mistake in it would go unseen.
import { createHmac } from 'node:crypto';

/** Key bytes of a `whsec_<base64>` secret; a secret without the prefix is read as bare base64. */
export function secretKey(secret: string): Buffer {
  const b64 = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  return Buffer.from(b64, 'base64');
}

/** `v1,<base64 HMAC-SHA256 of "${id}.${timestamp}.${body}">`. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/**
 * The development secret the async mock signs with unless told otherwise. Local mode and the
 * examples configure the product with the same value; never use it anywhere real.
 */
export const DEFAULT_WEBHOOK_SECRET = `whsec_${Buffer.from('vendorfetch-async-mock-dev-secret!').toString('base64')}`;
