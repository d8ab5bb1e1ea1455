// The process-wide cap on jobs in flight (`concurrency`), shared by every vendor consumer.
// A consumer takes up to its fair share of free slots before it reads, so one idle vendor's
// blocking read can never hold the slots another vendor needs.

export interface Slots {
  /** Wait until at least one slot is free, then take up to `max`. Resolves 0 once closed. */
  take(max: number): Promise<number>;
  give(n: number): void;
  readonly free: number;
  readonly total: number;
  close(): void;
}

export function createSlots(total: number): Slots {
  let free = total;
  let closed = false;
  const waiters: Array<() => void> = [];
  const wake = () => {
    while (waiters.length > 0 && (free > 0 || closed)) waiters.shift()?.();
  };
  return {
    async take(max) {
      while (!closed && free === 0) await new Promise<void>((r) => waiters.push(r));
      if (closed) return 0;
      const n = Math.max(0, Math.min(max, free));
      free -= n;
      return n;
    },
    give(n) {
      free = Math.min(total, free + n);
      wake();
    },
    get free() {
      return free;
    },
    total,
    close() {
      closed = true;
      wake();
    },
  };
}
