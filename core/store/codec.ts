// Helpers both adapters share: payloads and results travel as JSON text, and any failure of
// the underlying database surfaces as one retryable `unavailable` error.

import { isVendorfetchError, unavailable, unserializable, VendorfetchError } from '../errors.js';

/**
 * JSON text of a payload or result; `undefined` is stored as `null` so it round-trips.
 * A value JSON.stringify cannot write (too deep for the stack, BigInt, a cycle) throws
 * `unserializable` (not retryable): reporting it as a store outage would make callers
 * retry something that can never succeed.
 */
export function toJsonText(value: unknown): string {
  try {
    return JSON.stringify(value ?? null);
  } catch (e) {
    throw unserializable('the value', e);
  }
}

export const fromJsonText = (text: string): unknown => JSON.parse(text) as unknown;

/**
 * Map a database failure to `unavailable('job store')`. Our own errors pass through unchanged,
 * so a caller can still tell a conflict from an outage by `code`, never by message.
 */
export function storeError(cause: unknown): VendorfetchError {
  return isVendorfetchError(cause) ? cause : unavailable('job store', cause);
}

/** Two different jobs claimed the same request_id (a UUID collision or a caller bug). */
export const duplicateRequestId = (requestId: string): VendorfetchError =>
  new VendorfetchError('conflict', `a job with request_id ${requestId} already exists`, {
    retryable: false,
    details: { request_id: requestId },
  });
