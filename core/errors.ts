// Few error classes, each with a code and whether a retry may help. Callers branch on `code` or
// the isX() guards, never on messages. Which HTTP status a code is answered with is the api's
// decision (api/problem.ts), not the core's: the worker and the controller never answer HTTP.

/** The codes the core raises itself; the api adds its own and maps every one to a status. */
export type CoreErrorCode = 'unserializable' | 'unavailable' | 'conflict';

export class VendorfetchError<Code extends string = string> extends Error {
  readonly code: Code;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: Code, message: string, opts: { retryable: boolean; details?: Record<string, unknown>; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.name = 'VendorfetchError';
    this.code = code;
    this.retryable = opts.retryable;
    this.details = opts.details;
  }
}

export const isVendorfetchError = (e: unknown): e is VendorfetchError => e instanceof VendorfetchError;

/**
 * A value that cannot be written as JSON (nested too deep for the stack, a BigInt, a cycle).
 * It is the data's fault, not the store's: never an `unavailable` (which invites a retry).
 */
export const unserializable = (what: string, cause?: unknown): VendorfetchError<'unserializable'> =>
  new VendorfetchError('unserializable', `${what} cannot be stored as JSON`, { retryable: false, cause });

/** A dependency (store, Redis) could not be reached: retry later. */
export const unavailable = (what: string, cause?: unknown): VendorfetchError<'unavailable'> =>
  new VendorfetchError('unavailable', `${what} is unavailable`, { retryable: true, cause });
