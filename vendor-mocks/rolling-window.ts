// The strict rolling-window limiter and the "highest rate in any rolling second" meter, in one
// structure: both need the arrival times of the requests that were served in the last window.
//
// Why exact and not a fixed-window counter: a fixed window lets 2× the limit through across a
// window edge, and the whole point of this mock is to catch a product quota that does that.
//
// Window semantics: a window is half-open and `windowMs` long, so two arrivals at t and
// t + windowMs are NOT in the same window, while t and t + windowMs - ε are.
// Exactness of the max: the busiest window [s, s + w) can always be slid right until its end
// touches its newest arrival t, so it is enough to count (t - w, t] at every arrival.

export interface RollingWindow {
  /**
   * Decide about one arrival at `at` (ms). With `limit` null everything is admitted.
   * Admitted arrivals are recorded; refused ones are not (a refused call is not served).
   */
  admit(at: number, limit: number | null): Admission;
  /** Highest number of admitted arrivals seen in any window so far. */
  readonly maxInAnyWindow: number;
  /** Admitted arrivals in the window that ends at `at`. */
  countAt(at: number): number;
  reset(): void;
}

export type Admission = { ok: true } | { ok: false; retryAfterMs: number };

export function createRollingWindow(windowMs = 1000): RollingWindow {
  // Arrival times in ascending order; `head` skips expired ones without shifting the array.
  let times: number[] = [];
  let head = 0;
  let max = 0;

  const prune = (at: number): void => {
    while (head < times.length && (times[head] as number) <= at - windowMs) head++;
    // Compact now and then so memory stays bounded by one window of arrivals.
    if (head > 1024 && head * 2 > times.length) {
      times = times.slice(head);
      head = 0;
    }
  };

  return {
    admit(at, limit) {
      // Clocks may step back a hair (injected clocks in tests); never let the order break.
      const last = times.length > head ? (times[times.length - 1] as number) : -Infinity;
      const t = Math.max(at, last);
      prune(t);
      const count = times.length - head;
      if (limit !== null && count >= limit) {
        // The oldest arrival in the window leaves it at oldest + windowMs.
        const oldest = times[head] as number;
        return { ok: false, retryAfterMs: Math.max(0, oldest + windowMs - t) };
      }
      times.push(t);
      if (count + 1 > max) max = count + 1;
      return { ok: true };
    },
    get maxInAnyWindow() {
      return max;
    },
    countAt(at) {
      prune(at);
      return times.length - head;
    },
    reset() {
      times = [];
      head = 0;
      max = 0;
    },
  };
}
