// Few error classes, each with a code, whether a retry may help, and the HTTP status it maps to.
// Callers branch on `code` or the isX() guards, never on messages.

export type ErrorCode =
  | 'validation'
  | 'malformed_json'
  | 'payload_too_large'
  | 'unknown_vendor'
  | 'not_found'
  | 'conflict'
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

/** A dependency (store, Redis) could not be reached: 503, retry later. */
export const unavailable = (what: string, cause?: unknown): VendorfetchError =>
  new VendorfetchError('unavailable', `${what} is unavailable`, { httpStatus: 503, retryable: true, cause });
