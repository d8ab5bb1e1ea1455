// Idempotency-Key after the IETF draft (draft-ietf-httpapi-idempotency-key-header):
// - a key is scoped by client (the API key, or "anonymous" when none are configured) and by
//   route, so one client's key can never return another client's request_id;
// - a reused key must come with the same request: a fingerprint of vendor + canonical payload
//   (keys sorted, numbers as parsed) — another body → 422;
// - a repeat while the first request is still being handled → 409 + Retry-After (a Redis
//   marker, so it holds across api replicas);
// - keys expire (retention, default 24 h: the store forgets them, see core/retention.ts).
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { unavailable, VendorfetchError } from '../core/errors.js';
import { canonicalJson } from '../core/canonical-json.js';
import { keys } from '../core/keys.js';

/** How long the in-flight marker may outlive a request whose process died mid-way. */
export const IN_FLIGHT_TTL_MS = 60_000;

// Canonical JSON lives in core/ since the worker's result cache keys on it too.
export { canonicalJson } from '../core/canonical-json.js';

/** sha256 over vendor and canonical payload: what "the same request" means for a reused key. */
export const canonicalFingerprint = (vendor: string, payload: unknown): string =>
  createHash('sha256').update(JSON.stringify(vendor)).update('\n').update(canonicalJson(payload)).digest('hex');

/** The key as the store holds it: client and route in front, so scopes never collide. */
export const scopedIdempotencyKey = (client: string, route: string, key: string): string => `${client}|${route}|${key}`;

export const idempotencyKeyReused = (): VendorfetchError =>
  new VendorfetchError('idempotency_key_reused', 'this Idempotency-Key was already used with another request body or vendor', {
    retryable: false,
    details: { errors: [{ field: 'Idempotency-Key', detail: 'already used for a different request; use a new key' }] },
  });

export const idempotencyKeyInFlight = (): VendorfetchError =>
  new VendorfetchError('idempotency_key_in_flight', 'a request with this Idempotency-Key is still being processed; retry shortly', {
    retryable: true,
  });

/**
 * Mark a scoped key as in flight (SET NX PX). Resolves with a release function, or throws
 * 409 when another request holds it, or 503 when Redis cannot answer (POST /jobs needs Redis
 * anyway). The marker expires by itself if this process dies before releasing it.
 */
export async function claimInFlight(redis: Redis, scopedKey: string): Promise<() => Promise<void>> {
  const marker = keys.idempotencyInFlight(createHash('sha256').update(scopedKey).digest('hex'));
  let got: string | null;
  try {
    got = await redis.set(marker, '1', 'PX', IN_FLIGHT_TTL_MS, 'NX');
  } catch (e) {
    throw unavailable('queue (Redis)', e);
  }
  if (got !== 'OK') throw idempotencyKeyInFlight();
  return async () => {
    await redis.del(marker);
  };
}
