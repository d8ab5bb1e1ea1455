// One circuit breaker per vendor per worker process (cockatiel ConsecutiveBreaker), plus the
// gate that makes jobs WAIT while it is open instead of burning attempts on BrokenCircuitError:
// the consumer stops reading that vendor's stream until the breaker may half-open, and exactly
// one job of the process is let through as the half-open trial.
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleWhen,
  timeout,
  wrap,
  type IDisposable,
} from 'cockatiel';
import type { VendorSpec } from '../core/vendorpool.js';

export type CircuitName = 'closed' | 'open' | 'half-open';

/** A failure the breaker counts (5xx, connection failure, unreadable answer). */
export class CountedFailure extends Error {
  readonly brand = 'CountedFailure' as const;
  constructor(
    readonly code: string,
    message: string,
    /** The vendor's HTTP status when the failure is that answer (a 5xx, a redirect, a body that is not JSON). */
    readonly status?: number,
  ) {
    super(message);
  }
}
export const isCountedFailure = (e: unknown): e is CountedFailure => e instanceof CountedFailure;
export const isTimeout = (e: unknown): e is TaskCancelledError => e instanceof TaskCancelledError;
export const isBrokenCircuit = (e: unknown): e is BrokenCircuitError => e instanceof BrokenCircuitError;

export interface Admission {
  ok: boolean;
  /** When !ok: how long until it is worth asking again. */
  retryInMs: number;
  /** Call when the admitted call is over (frees the half-open trial slot). */
  done(): void;
}

export interface VendorBreaker {
  /** Runs `fn` under the vendor's timeout and breaker. Throws CountedFailure / TaskCancelledError / BrokenCircuitError. */
  execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** May a call start now? In half-open, only one at a time is admitted. */
  admit(nowMs: number): Admission;
  /** 0 when calls may start, else how long the consumer should stop reading. */
  blockedForMs(nowMs: number): number;
  state(): CircuitName;
  dispose(): void;
}

const NAMES: Record<CircuitState, CircuitName> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'open',
};

export function createVendorBreaker(
  spec: Pick<VendorSpec, 'timeoutSeconds' | 'circuitBreaker'>,
  onState: (state: CircuitName) => void = () => {},
  now: () => number = Date.now,
): VendorBreaker {
  const halfOpenAfterMs = spec.circuitBreaker.halfOpenAfterSeconds * 1000;
  const breaker = circuitBreaker(handleWhen((e) => isCountedFailure(e) || isTimeout(e)), {
    halfOpenAfter: halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(spec.circuitBreaker.consecutiveFailures),
  });
  // Aggressive: the call is given up at the deadline even if the fetch ignores its signal.
  // abortOnReturn off: by default cockatiel aborts the signal after every call, which builds an
  // AbortError DOMException (with its stack) per job — ~2 % of the worker's CPU at high job
  // rates — for nothing: callVendor has read or cancelled the body before it returns.
  const policy = wrap(breaker, timeout(spec.timeoutSeconds * 1000, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false }));
  let openedAt = 0;
  let trialAdmitted = false;
  const subs: IDisposable[] = [
    breaker.onBreak(() => {
      openedAt = now();
      trialAdmitted = false;
    }),
    breaker.onReset(() => {
      trialAdmitted = false;
    }),
    breaker.onStateChange((s) => onState(NAMES[s])),
  ];

  const blockedForMs = (nowMs: number): number => {
    switch (breaker.state) {
      case CircuitState.Closed:
        return 0;
      case CircuitState.Open:
        if (trialAdmitted) return 200;
        return Math.max(0, openedAt + halfOpenAfterMs - nowMs);
      default:
        return 200; // half-open trial running, or isolated
    }
  };

  return {
    execute: (fn, signal) => policy.execute(({ signal: s }) => fn(s), signal),
    admit(nowMs) {
      const wait = blockedForMs(nowMs);
      if (wait > 0) return { ok: false, retryInMs: wait, done: () => {} };
      if (breaker.state === CircuitState.Closed) return { ok: true, retryInMs: 0, done: () => {} };
      // Open and due to half-open: this call is the trial; the rest wait until it is over.
      trialAdmitted = true;
      let done = false;
      return {
        ok: true,
        retryInMs: 0,
        done: () => {
          if (done) return;
          done = true;
          trialAdmitted = false;
        },
      };
    },
    blockedForMs,
    state: () => NAMES[breaker.state],
    dispose: () => subs.forEach((s) => s.dispose()),
  };
}
