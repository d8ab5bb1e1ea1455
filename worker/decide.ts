// Pure decisions of the worker: what a vendor's answer means, and what happens to the job next.
// One place decides complete / wait for webhook / retry / dead-letter (worker/process.ts only
// carries the decision out), so the rules are unit-tested without Redis, HTTP or clocks.
import { nextBackoff, type BackoffPolicy } from '../core/backoff.js';
import type { Job } from '../core/job.js';
import type { VendorSpec } from '../core/vendorpool.js';

/** What one vendor call came to. */
export type CallOutcome =
  /** Sync vendor answered 2xx with a JSON body. */
  | { kind: 'answered'; status: number; body: unknown }
  /** Async vendor accepted the request; its answer comes by webhook. */
  | { kind: 'accepted'; status: number }
  /** 429: our quota was too generous for the vendor. Not the job's fault. */
  | { kind: 'rate_limited'; status: 429; retryAfterMs: number }
  /** 5xx, timeout, connection failure, unreadable answer: another try may help. */
  | { kind: 'failed'; code: string; error: string }
  /** Any other 4xx: the vendor refused this request; trying again will not help. */
  | { kind: 'rejected'; status: number; error: string }
  /** The breaker was open when the call was due (a race with another job): nothing was sent. */
  | { kind: 'circuit_open' }
  /** The worker is shutting down and gave up waiting: leave the job for another worker. */
  | { kind: 'aborted' };

/** What to do with a job after its call. */
export type JobAction =
  | { do: 'complete'; result: unknown }
  | { do: 'await_callback'; deadlineMs: number }
  | { do: 'retry'; delayMs: number; error: string; countsAsFailure: boolean }
  | { do: 'fail'; error: string }
  | { do: 'leave' };

/** Retry-After as delta-seconds or an HTTP date; a missing or unreadable header gives `fallbackMs`. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number, fallbackMs = 1000, maxMs = 300_000): number {
  if (value === null || value === undefined || value.trim() === '') return fallbackMs;
  const v = value.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(v)) ms = Number(v) * 1000;
  else {
    const at = Date.parse(v);
    if (Number.isNaN(at)) return fallbackMs;
    ms = at - nowMs;
  }
  return Math.min(Math.max(Math.round(ms), 0), maxMs);
}

/** Classify an HTTP answer of the vendor (the body is read only for sync 2xx). */
export function classifyStatus(
  status: number,
  mode: VendorSpec['mode'],
  retryAfter: string | null,
  nowMs: number,
): Exclude<CallOutcome, { kind: 'answered' } | { kind: 'circuit_open' } | { kind: 'aborted' }> | 'read_body' {
  if (status >= 200 && status < 300) return mode === 'async' ? { kind: 'accepted', status } : 'read_body';
  if (status === 429) return { kind: 'rate_limited', status, retryAfterMs: parseRetryAfter(retryAfter, nowMs) };
  // Redirects are never followed (the payload would go wherever they point): a failed call,
  // counted by the breaker, as a vendor that moved without telling us is broken for us.
  if (status >= 300 && status < 400) return { kind: 'failed', code: 'vendor_redirect', error: `vendor_redirect: HTTP ${status} (redirects are not followed)` };
  // 408 Request Timeout and 5xx are the vendor's trouble, not the request's.
  if (status >= 500 || status === 408) return { kind: 'failed', code: 'vendor_error', error: `vendor_error: HTTP ${status}` };
  return { kind: 'rejected', status, error: `vendor_rejected: HTTP ${status}` };
}

export interface DecideInput {
  outcome: CallOutcome;
  /** Failed calls so far, this one included (vendor calls minus free ones). */
  failures: number;
  spec: Pick<VendorSpec, 'retry' | 'callbackTimeoutSeconds'>;
  nowMs: number;
  random?: () => number;
}

/**
 * The retry rule. maxAttempts counts real failures only: a 429 or an open breaker makes the job
 * wait without using up an attempt (job.attempts still counts every vendor call started).
 */
export function decide({ outcome, failures, spec, nowMs, random }: DecideInput): JobAction {
  switch (outcome.kind) {
    case 'answered':
      return { do: 'complete', result: outcome.body };
    case 'accepted':
      return { do: 'await_callback', deadlineMs: nowMs + (spec.callbackTimeoutSeconds ?? 300) * 1000 };
    case 'rate_limited':
      return { do: 'retry', delayMs: outcome.retryAfterMs, error: 'rate_limited: HTTP 429', countsAsFailure: false };
    case 'circuit_open':
      return { do: 'retry', delayMs: 1000, error: 'circuit_open', countsAsFailure: false };
    case 'aborted':
      return { do: 'leave' };
    case 'rejected':
      return { do: 'fail', error: outcome.error };
    case 'failed':
      return retryOrFail(outcome.error, failures, spec.retry, random);
  }
}

function retryOrFail(error: string, failures: number, retry: VendorSpec['retry'], random?: () => number): JobAction {
  if (failures >= retry.maxAttempts) return { do: 'fail', error };
  const policy: BackoffPolicy = retry;
  return { do: 'retry', delayMs: nextBackoff(failures, policy, random), error, countsAsFailure: true };
}

/** What the sweeper does with a job found past its deadline. */
export type OverdueAction =
  | { do: 'requeue'; error?: string }
  | { do: 'fail'; error: string };

/**
 * - pending: never picked up (Redis lost the entry, or the api died between store and queue) → queue it again.
 * - processing, async vendor: the webhook did not come in time → retry, or fail `callback_timeout`
 *   once the attempts are used up.
 * - processing, sync vendor: its worker died mid-call → queue it again. A worker dying is not the
 *   vendor's failure, but a job that keeps killing workers must stop: fail it after 2 × maxAttempts calls.
 */
export function decideOverdue(
  job: Pick<Job, 'status' | 'attempts' | 'replayed_attempts'>,
  spec: Pick<VendorSpec, 'mode' | 'retry'>,
  freeCalls: number,
): OverdueAction {
  if (job.status === 'pending') return { do: 'requeue' };
  // Calls before a dead-letter replay do not count: the replay gave the job a fresh budget.
  const failures = job.attempts - (job.replayed_attempts ?? 0) - freeCalls;
  if (spec.mode === 'async') {
    return failures >= spec.retry.maxAttempts ? { do: 'fail', error: 'callback_timeout' } : { do: 'requeue', error: 'callback_timeout' };
  }
  return failures >= 2 * spec.retry.maxAttempts ? { do: 'fail', error: 'worker_lost' } : { do: 'requeue', error: 'worker_lost' };
}
