// A de-duplicating, rate-limited work queue (client-go's workqueue semantics, small):
// - a key queued twice is processed once; a key is never processed by two workers at once;
// - a key added while it is being processed is processed again afterwards ("dirty");
// - failures requeue with per-key exponential backoff until `forget` (a success) resets it;
// - `addAfter` schedules a requeue (lag polling), keeping only the earliest pending time.
export interface WorkQueueOptions {
  /** First retry delay after a failure. Default 200 ms. */
  baseDelayMs?: number;
  /** Longest retry delay. Default 60 000 ms. */
  maxDelayMs?: number;
}

export type Handler = (key: string) => Promise<void>;

export interface WorkQueue {
  add(key: string): void;
  addAfter(key: string, delayMs: number): void;
  /** Requeue after this key's next backoff delay (doubling per failure in a row). */
  addRateLimited(key: string): void;
  /** Reset a key's failure count. */
  forget(key: string): void;
  failures(key: string): number;
  /** Pending keys (queued, not being processed). */
  length(): number;
  /** Run `concurrency` loops calling `handler`. Resolves once `shutdown` and in-flight work ends. */
  run(handler: Handler, concurrency?: number): Promise<void>;
  /** Stop handing out keys; in-flight handlers finish. Idempotent. */
  shutdown(): void;
}

export function createWorkQueue(opts: WorkQueueOptions = {}): WorkQueue {
  const baseDelayMs = opts.baseDelayMs ?? 200;
  const maxDelayMs = opts.maxDelayMs ?? 60_000;
  const queue: string[] = [];
  const queued = new Set<string>();
  const processing = new Set<string>();
  const dirty = new Set<string>();
  const timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  const failureCount = new Map<string, number>();
  let waiters: Array<() => void> = [];
  let stopped = false;

  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };

  function add(key: string): void {
    if (stopped) return;
    if (processing.has(key)) {
      dirty.add(key);
      return;
    }
    if (queued.has(key)) return;
    queued.add(key);
    queue.push(key);
    wake();
  }

  function addAfter(key: string, delayMs: number): void {
    if (stopped) return;
    if (delayMs <= 0) return add(key);
    const at = Date.now() + delayMs;
    const existing = timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      timers.delete(key);
      add(key);
    }, delayMs);
    timers.set(key, { at, timer });
  }

  async function next(): Promise<string | undefined> {
    for (;;) {
      if (stopped) return undefined;
      const key = queue.shift();
      if (key !== undefined) {
        queued.delete(key);
        processing.add(key);
        return key;
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  }

  async function loop(handler: Handler): Promise<void> {
    for (;;) {
      const key = await next();
      if (key === undefined) return;
      try {
        await handler(key);
      } finally {
        processing.delete(key);
        if (dirty.delete(key)) add(key);
      }
    }
  }

  return {
    add,
    addAfter,
    addRateLimited(key) {
      const n = (failureCount.get(key) ?? 0) + 1;
      failureCount.set(key, n);
      addAfter(key, Math.min(maxDelayMs, baseDelayMs * 2 ** (n - 1)));
    },
    forget: (key) => void failureCount.delete(key),
    failures: (key) => failureCount.get(key) ?? 0,
    length: () => queue.length,
    async run(handler, concurrency = 1) {
      await Promise.all(Array.from({ length: concurrency }, () => loop(handler)));
    },
    shutdown() {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t.timer);
      timers.clear();
      wake();
    },
  };
}
