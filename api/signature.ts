// Standard Webhooks signature verification (https://www.standardwebhooks.com):
//   webhook-id, webhook-timestamp (unix seconds), webhook-signature: "v1,<base64>" (several,
//   space-separated, during secret rotation); signed content `${id}.${timestamp}.${rawBody}`,
//   HMAC-SHA256 keyed by the base64 part of the secret `whsec_<base64>`.
//
// Why not the `standardwebhooks` npm package: it hashes with a pure-JS SHA-256 (fast-sha256)
// instead of OpenSSL, JSON-parses the payload itself, and reports every failure as one error
// class told apart only by its message. node:crypto gives native HMAC and timingSafeEqual, and
// this pure function returns a reason we can branch on (and count) without string matching.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Default tolerance for the timestamp, both into the past and into the future. */
export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

export interface WebhookHeaders {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
}

export type VerifyResult =
  | { ok: true }
  | { ok: false; reason: 'missing_headers' | 'bad_timestamp' | 'stale' | 'bad_signature' | 'bad_secret' };

/** The HMAC key of a `whsec_<base64>` secret (a secret without the prefix is base64 as a whole). */
export function secretKey(secret: string): Buffer | null {
  const b64 = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return null;
  const key = Buffer.from(b64, 'base64');
  return key.length === 0 ? null : key;
}

export function verifyWebhook(
  headers: WebhookHeaders,
  rawBody: Buffer,
  secret: string,
  nowMs: number,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
): VerifyResult {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) return { ok: false, reason: 'missing_headers' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSeconds) return { ok: false, reason: 'stale' };
  const key = secretKey(secret);
  if (key === null) return { ok: false, reason: 'bad_secret' };

  const expected = createHmac('sha256', key)
    .update(`${id}.${timestamp}.`)
    .update(rawBody)
    .digest();
  // Check every listed signature (no early exit), so timing does not tell which one matched.
  let matched = false;
  for (const part of signature.split(' ')) {
    const comma = part.indexOf(',');
    if (comma < 0 || part.slice(0, comma) !== 'v1') continue;
    const given = Buffer.from(part.slice(comma + 1), 'base64');
    // Lengths are public (always 32 for a real v1 signature); only equal lengths are compared.
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  return matched ? { ok: true } : { ok: false, reason: 'bad_signature' };
}
