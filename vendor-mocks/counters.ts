// What the mocks count, and how. One shape for both mocks (webhook counters stay 0 on the sync
// mock) so tests and benchmarks read them the same way.

export interface Counters {
  /** Every POST /fetch that arrived, whatever became of it. */
  requests: number;
  /** Calls admitted past the limits and handled (200/202, injected errors, hangs). */
  served: number;
  /** Answered 200 (sync) or 202 (async). */
  ok: number;
  /** Injected failures (errorRate, failFirst). */
  errors: number;
  /** 429s from throttleNext / throttleRate (a vendor asking to slow down; not violations). */
  throttled: number;
  /** Refused by the strict rolling-window limit (429): calls the product should not have made. */
  violations: number;
  /** Refused by concurrencyLimit (429). */
  concurrencyViolations: number;
  /** Admitted but left unanswered (hang). */
  hung: number;
  /** Bad input (400/413). */
  badRequests: number;
  /** Highest number of served calls in any rolling 1000 ms window, exactly. */
  maxRateInAnyRollingSecond: number;
  /** Served calls in the last 1000 ms. */
  currentRate: number;
  /** POST /fetch requests open right now, and the most ever open at once. */
  inFlight: number;
  maxInFlight: number;
  /** Epoch ms of the first and last served call (null before any): the busy period. */
  firstServedAt: number | null;
  lastServedAt: number | null;
  /** Distinct request keys served, and how many of them were served more than once. */
  distinctKeys: number;
  duplicateKeys: number;
  /** Served calls per request key (first 100 000 keys; omitted with GET /_counters?perKey=false). */
  perKey?: Record<string, number>;
  // --- async mock ---
  /** Requests answered 202 whose webhook was scheduled. */
  accepted: number;
  /** Webhooks scheduled (a duplicate counts once) and those not finished yet. */
  webhooksScheduled: number;
  webhooksPending: number;
  /** Webhooks not sent on purpose (never). */
  webhooksDropped: number;
  /** Every POST attempt to a webhook URL. */
  webhookAttempts: number;
  /** Deliveries answered 2xx (a duplicate's second delivery counts again). */
  webhooksSent: number;
  /** Attempts after the first of a delivery. */
  webhookRetries: number;
  /** Deliveries given up (non-retryable 4xx, or attempts exhausted). */
  webhookFailures: number;
  /** Attempts by answer status ("200", "401", …; "error" for connection errors/timeouts). */
  webhookStatuses: Record<string, number>;
}

export const MAX_TRACKED_KEYS = 100_000;

export function emptyCounters(): Counters {
  return {
    requests: 0,
    served: 0,
    ok: 0,
    errors: 0,
    throttled: 0,
    violations: 0,
    concurrencyViolations: 0,
    hung: 0,
    badRequests: 0,
    maxRateInAnyRollingSecond: 0,
    currentRate: 0,
    inFlight: 0,
    maxInFlight: 0,
    firstServedAt: null,
    lastServedAt: null,
    distinctKeys: 0,
    duplicateKeys: 0,
    perKey: {},
    accepted: 0,
    webhooksScheduled: 0,
    webhooksPending: 0,
    webhooksDropped: 0,
    webhookAttempts: 0,
    webhooksSent: 0,
    webhookRetries: 0,
    webhookFailures: 0,
    webhookStatuses: {},
  };
}
