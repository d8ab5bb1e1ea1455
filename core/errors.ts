// Few error classes, each with a code, whether a retry may help, and the HTTP status it maps to.
// Callers branch on `code` or the isX() guards, never on messages.

export type ErrorCode =
  | 'validation'
  | 'malformed_json'
  | 'too_deep'
  | 'unserializable'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'unknown_vendor'
  | 'not_found'
  | 'conflict'
  | 'idempotency_key_reused'
  | 'idempotency_key_in_flight'
  | 'unauthorized'
  | 'rate_limited'
  | 'unavailable'
  | 'vendor_error'
  | 'vendor_timeout'
  | 'vendor_rejected'
  | 'callback_timeout';

export class VendorfetchError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    opts: { httpStatus: number; retryable: boolean; details?: Record<string, unknown>; cause?: unknown },
  ) {
    super(message, { cause: opts.cause });
    this.name = 'VendorfetchError';
    this.code = code;
    this.httpStatus = opts.httpStatus;
    this.retryable = opts.retryable;
    this.details = opts.details;
  }
}

export const isVendorfetchError = (e: unknown): e is VendorfetchError => e instanceof VendorfetchError;

/**
 * A value that cannot be written as JSON (nested too deep for the stack, a BigInt, a cycle).
 * It is the data's fault, not the store's: never an `unavailable` (which invites a retry).
 */
export const unserializable = (what: string, cause?: unknown): VendorfetchError =>
  new VendorfetchError('unserializable', `${what} cannot be stored as JSON`, { httpStatus: 400, retryable: false, cause });

/** A dependency (store, Redis) could not be reached: 503, retry later. */
export const unavailable = (what: string, cause?: unknown): VendorfetchError =>
  new VendorfetchError('unavailable', `${what} is unavailable`, { httpStatus: 503, retryable: true, cause });
