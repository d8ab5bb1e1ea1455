// Retry delays: exponential growth with "equal jitter" (half of the exponential step is fixed,
// the other half random). Pure, so the worker's retry decision is unit-tested without clocks.
//
// Why equal jitter rather than full jitter: full jitter (random in [0, step]) spreads retries
// best but can retry a failing vendor almost at once; keeping half of the step guarantees that
// every retry waits at least initialBackoffMs · 2^(attempt-1) / 2, while the random half still
// de-synchronises the workers that failed together.

export interface BackoffPolicy {
  /** Delay step of the first retry, in ms. */
  initialBackoffMs: number;
  /** No delay is ever longer than this, in ms. */
  maxBackoffMs: number;
}

/** The exponential step before jitter for the retry after failure number `attempt` (1-based). */
export function backoffCeiling(attempt: number, policy: BackoffPolicy): number {
  const n = Math.max(1, Math.floor(attempt));
  // 2^(n-1) overflows to Infinity for large n; Math.min caps it.
  return Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** (n - 1));
}

/**
 * How long to wait before retrying after failure number `attempt` (1-based):
 * uniformly in [ceiling/2, ceiling], ceiling = min(maxBackoffMs, initialBackoffMs · 2^(attempt-1)).
 * `random` returns a number in [0, 1) (Math.random by default; tests pass a fixed one).
 */
export function nextBackoff(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = backoffCeiling(attempt, policy);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(ceiling / 2 + (ceiling / 2) * r);
}
