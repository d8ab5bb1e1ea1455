// The global per-vendor quota gate: every worker process asks Redis before it calls a vendor.
//
// Why hand-written and not rate-limiter-flexible (a project dependency): its RateLimiterRedis
// is a fixed-window counter (`SET key 0 EX duration NX` + `INCRBY`, the window anchored at the
// first hit), and BurstyRateLimiter only combines two such counters. A fixed window lets up to
// 2 × points through around a window edge (N at the end of one window, N at the start of the
// next), and our contract is "never more than requestsPerSecond in ANY rolling second". It has
// no in-flight cap either, and its RateLimiterQueue waits in one process only. So the gate is
// one Lua script (quota-scripts.ts) combining:
//   - a sliding log (ZSET of grant times taken from Redis TIME, in µs): exact for every rolling
//     window, whatever the workers' clocks say;
//   - GCRA (the "virtual scheduling" form of a token bucket) whose cursor (the theoretical
//     arrival time, TAT) lives in the same ZSET under a reserved member: at most `burst` calls go
//     back to back, after that calls are spaced by window / requestsPerSecond. Precisely: in any
//     interval of length L the gate grants at most burst + L / spacing calls, and (sliding log)
//     at most requestsPerSecond in any window;
//   - an in-flight set (ZSET token → lease expiry) so that a crashed worker's slot comes back by
//     itself after `inFlightLeaseMs`;
//   - a pause-until key (PX TTL, so again Redis' clock) set when a vendor answers 429 + Retry-After.
//
// The window is 1000 ms + `windowMarginMs` (default 5 ms). A grant is not the moment the vendor
// receives the call: between the two lie the Redis reply, this process' event loop, the HTTP
// request and the vendor's own event loop. If call A is granted at t and reaches the vendor δA
// later while call B, granted at t + window, arrives at once, the vendor sees them window − δA
// apart. Measured in the 4-worker e2e (grant → arrival at the mock, in its own process): median
// 2-3 ms, but 99th percentile 40-50 ms and up to 200 ms on a loaded 2-core machine (new TCP
// connections, descheduled processes, slow store writes). No fixed margin covers that and still
// leaves ≥ 95 % of the quota (each ms of window costs 0.1 %), so the log entry is corrected instead:
//   - settle(): the caller reports when it sent the call and when the answer came. The vendor
//     received the call before the answer arrived, and at least its answer floor earlier (the
//     fastest recent round trip to this vendor, counted from when the request reached the socket
//     if the caller knows it, less 1 ms; 0 until it has settled, see answerFloorMs: a floor taken
//     from a few slow first calls would be too high, i.e. unsafe). If that latest possible arrival lies
//     beyond stamp + margin, the entry moves to (that arrival − margin). Safe because no later
//     grant can yet have counted the entry as expired (the script refuses to move an entry that is
//     a window old), and every grant from then on counts it at its new, later time; it works when
//     the answer comes within the window (~1 s), which covers every case measured. The corrections
//     of one event-loop turn go to Redis together (vfQuotaSettle): one round trip, not one per call;
//   - until it is settled, a grant is "unsettled" (a ZSET beside the log: token → stamp + lease,
//     the latest time its call can reach the vendor). Its worker may have died mid-call (SIGKILL)
//     and will never settle it, while the call may have reached the vendor well after its stamp:
//     so the script never lets an unsettled entry drop out of the windows a new grant may fall
//     in, moving it to Redis' now (or to its bound, once passed). A call answered within the
//     window is settled long before that and costs nothing; a dead worker's grant holds its rate
//     slot until its lease is over, and so does a call slower than the window until it ends
//     (safety over liveness). Settling is therefore always sent, batched per turn as above;
//     release() without a settle (a call never made) only forgets the grant;
//   - a grant is handed out only if it is known to be fresh: if the script's round trip took more
//     than `freshGrantMs` (default 10 ms), the gate moves its grants' log entries to Redis' "now"
//     (vfQuotaRestamp) and measures again; a grant older than the window is given up and asked for
//     anew;
//   - reservations: a rate slot that frees within `reserveAheadMs` (default 15 ms) is granted at
//     once, logged at the moment it frees, and handed to the caller then. So a pump's late wake-up
//     does not push every following grant of that slot later (window after window it would add
//     up), and the margin absorbs the small handover delay instead.
// Cost: the window's 5 ms plus the settle corrections, about 1000 / 1010 of requestsPerSecond in
// a steady stream. Callers must call the vendor right after `acquire`, call settle() right after,
// and release() when done.
//
// Waiting: the script never sleeps; it answers "granted" or "not before X µs from now" (why:
// pause | inflight | rate). The client sleeps exactly that (less the reservation horizon for a
// rate slot) plus 0–2 ms of jitter, then asks again:
// no busy polling. Within one process the waiters of a vendor form a FIFO and one script call asks
// for a slot for each of the first `maxBatch` of them, so a burst costs one round trip and a pool of
// P processes costs about P script calls per grant, not one per waiting job. Waiters blocked by
// maxInFlight are woken at once by a release (pub/sub from any process, or a local release), else
// at the earliest lease expiry, at most `inFlightRecheckMs`. Reservations keep the wake-up latency
// (a few ms) out of the log, also with burst = 1.
// Redis errors never fail a waiter: it retries with backoff until Redis answers or its signal aborts.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { batchPerTurn } from '../core/batch.js';
import { keys } from '../core/keys.js';
import { defineCommands, TAT_MEMBER } from './quota-scripts.js';

export interface Quota {
  requestsPerSecond: number;
  /** Calls that may go back to back; 1..requestsPerSecond. Default: requestsPerSecond. */
  burst?: number;
  /** Calls open at once across every worker; 0 = unlimited. */
  maxInFlight: number;
}

/** When a granted call went out and when it ended (this process' `performance.now()`, ms). */
export interface CallTiming {
  /** Just before the request was handed to the HTTP client. */
  sentAt: number;
  /** When the request reached the socket, if known (a new connection may take a while). */
  wireAt?: number;
  /** When the answer's status line arrived, or the call failed. */
  endedAt: number;
  /** True when the vendor answered (any HTTP status): a round-trip sample for this vendor. */
  answered: boolean;
}

/**
 * Frees the in-flight slot of one granted call, and forgets the grant if it was never settled
 * (the call was not made); idempotent. Carries the grant's Redis time.
 */
export type Release = (() => Promise<void>) & {
  /** The grant's stamp in the log (Redis time, µs): the moment its slot was free. */
  readonly grantedAtUs: number;
  /**
   * Tell the gate how the call went, right after it ended. If the vendor may have received it
   * later than stamp + margin (see top), the gate moves the log entry later; until settled, the
   * grant counts as if its call could still be arriving (see top). Never throws.
   */
  settle(timing: CallTiming): Promise<void>;
};

/**
 * How long a call's in-flight slot survives without a release: the vendor's timeout plus a
 * margin for storing the answer and releasing, so a slot never lapses while its call can
 * still be open (a fixed lease below `timeoutSeconds` let maxInFlight be exceeded), yet a
 * crashed worker's slot comes back soon after its call would have timed out.
 */
export function inFlightLeaseMs(timeoutSeconds: number, marginMs = 5000): number {
  return Math.ceil(timeoutSeconds * 1000) + Math.max(5000, marginMs);
}

export interface AcquireOptions {
  /** This call's in-flight lease (see inFlightLeaseMs). Default: the gate's `inFlightLeaseMs`. */
  leaseMs?: number;
}

export interface QuotaGate {
  /** Wait until one call to `vendor` fits its quota. Resolves with `release`, to call when the call ends (frees the in-flight slot). Waiting never fails a job; rejects only if `signal` aborts (or the gate is closed). */
  acquire(vendor: string, quota: Quota, signal?: AbortSignal, opts?: AcquireOptions): Promise<Release>;
  /** The vendor answered 429 + Retry-After: no worker anywhere calls it before `ms` from now. */
  pause(vendor: string, ms: number): Promise<void>;
  /** Rejects the waiters of this gate and closes its pub/sub connection (not `redis`). Idempotent. */
  close(): Promise<void>;
}

export interface QuotaGateOptions {
  /** How long an in-flight slot survives without release (a crashed worker), for calls that do not name their own lease (AcquireOptions). Keep it above the vendor timeout. Default 60 000 ms. */
  inFlightLeaseMs?: number;
  /** Added to the 1000 ms window against dispatch skew between grant and vendor (see top). Default 5 ms. */
  windowMarginMs?: number;
  /** A rate slot free within this time is granted ahead, and the caller waits until it is free (see top). Default 15 ms. */
  reserveAheadMs?: number;
  /** Round trips remembered per vendor; the fastest of them bounds when the vendor saw a call (see top). Default 64. */
  rttSamples?: number;
  /** A grant whose round trip took longer is re-stamped at Redis' now before it is handed out (see top); after 5 slow re-stamps in a row it is given up and asked for anew (safety over liveness). Default 10 ms. */
  freshGrantMs?: number;
  /** Longest sleep of a waiter blocked by maxInFlight before it asks again (covers a missed release message). Default 1000 ms. */
  inFlightRecheckMs?: number;
  /** Random extra sleep, 0..jitterMs, so waiting processes do not all ask at the same instant. Default 2 ms. */
  jitterMs?: number;
  /** Most waiters one script call asks slots for. Default 64. */
  maxBatch?: number;
  /** Connection for release notifications; default `redis.duplicate()` created when first needed. */
  subscriber?: Redis;
  /** Told about Redis errors (the waiter keeps retrying). Default: ignore. */
  onError?: (err: unknown) => void;
}

// A settle back-date far enough that the entry stays at its stamp (a day, in µs).
const NOT_MOVED_US = 86_400_000_000;
// When a vendor's answer floor is trusted (see answerFloorMs).
const MIN_RTT_SAMPLES = 8;
const STABLE_FLOOR_SAMPLES = 3;
const STABLE_FLOOR_MS = 2;

/** Channel announcing a freed in-flight slot of `vendor`. */
export const releasedChannel = (vendor: string): string => `${keys.quota(vendor, 'inflight')}:released`;
/** Grants whose call has not been settled yet, with the latest time it can reach the vendor (quota-scripts.ts). */
export const unsettledKey = (vendor: string): string => `${keys.quota(vendor, 'window')}:unsettled`;

/** Checks a quota and fills in defaults; throws RangeError on a value the schema would reject. */
export function normalizeQuota(q: Quota): Required<Quota> {
  const rps = q.requestsPerSecond;
  const burst = q.burst ?? rps;
  if (!Number.isInteger(rps) || rps < 1) throw new RangeError(`requestsPerSecond must be an integer ≥ 1, got ${rps}`);
  if (!Number.isInteger(burst) || burst < 1 || burst > rps) throw new RangeError(`burst must be an integer in 1..${rps}, got ${burst}`);
  if (!Number.isInteger(q.maxInFlight) || q.maxInFlight < 0) throw new RangeError(`maxInFlight must be an integer ≥ 0, got ${q.maxInFlight}`);
  return { requestsPerSecond: rps, burst, maxInFlight: q.maxInFlight };
}

interface Waiter {
  quota: Required<Quota>;
  /** The in-flight lease this call asked for (AcquireOptions); unset: the gate's default. */
  leaseMs?: number;
  signal: AbortSignal | undefined;
  /** Part of a batch whose script call is under way: an abort is handled when it answers. */
  asking: boolean;
  resolve(release: Release): void;
  reject(err: unknown): void;
}

interface Lane {
  queue: Waiter[];
  /** Recent round trips (ms) of this vendor's calls, a ring of `rttSamples`. */
  rtts: number[];
  rttNext: number;
  pumping: boolean;
  /** Wakes the sleeping pump early (a slot was released, or the gate closes). */
  wake: (() => void) | undefined;
}

const abortReason = (signal: AbortSignal): unknown => signal.reason ?? new DOMException('aborted', 'AbortError');

export function createQuotaGate(redis: Redis, opts: QuotaGateOptions = {}): QuotaGate {
  const leaseMs = opts.inFlightLeaseMs ?? 60_000;
  const marginMs = opts.windowMarginMs ?? 5;
  const windowUs = (1000 + marginMs) * 1000;
  const reserveAheadUs = Math.max(0, opts.reserveAheadMs ?? 15) * 1000;
  const rttSamples = Math.max(MIN_RTT_SAMPLES, opts.rttSamples ?? 64);
  const freshGrantMs = Math.max(1, opts.freshGrantMs ?? 10);
  const recheckMs = opts.inFlightRecheckMs ?? 1000;
  const jitterMs = opts.jitterMs ?? 2;
  const maxBatch = opts.maxBatch ?? 64;
  const onError = opts.onError ?? (() => {});
  const cmd = defineCommands(redis);
  const lanes = new Map<string, Lane>();
  let subscriber: Redis | undefined = opts.subscriber;
  const ownsSubscriber = opts.subscriber === undefined;
  const subscribed = new Set<string>();
  let closed = false;
  let onMessage: ((channel: string) => void) | undefined;

  const lane = (vendor: string): Lane => {
    let l = lanes.get(vendor);
    if (!l) {
      l = { queue: [], rtts: [], rttNext: 0, pumping: false, wake: undefined };
      lanes.set(vendor, l);
    }
    return l;
  };

  // Subscribes (once per vendor) to release notifications; failures only cost the early wake-up.
  const listenForReleases = async (vendor: string): Promise<void> => {
    const channel = releasedChannel(vendor);
    if (subscribed.has(channel) || closed) return;
    subscribed.add(channel);
    subscriber ??= redis.duplicate();
    if (!onMessage) {
      onMessage = (ch: string) => {
        for (const [v, l] of lanes) if (releasedChannel(v) === ch) l.wake?.();
      };
      subscriber.on('message', onMessage);
    }
    try {
      await subscriber.subscribe(channel);
    } catch (err) {
      subscribed.delete(channel);
      onError(err);
    }
  };

  // Sleeps `ms`, or less if the lane is woken.
  const sleep = (l: Lane, ms: number): Promise<void> =>
    new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (l.wake === done) l.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      l.wake = done;
    });

  /** Where a script's answer puts a stamp on this process' clock: `nowUs` was read between `sentAt` and `recvAt`. */
  interface ScriptTime {
    sentAt: number;
    recvAt: number;
    nowUs: number;
  }

  // The fastest recent round trip of a vendor, less 1 ms for the request's own way there: the
  // least time a vendor needs between receiving a call and its answer reaching us (see top).
  // Trusted only when settled: at least MIN_RTT_SAMPLES round trips, and STABLE_FLOOR_SAMPLES of
  // them within STABLE_FLOOR_MS of the fastest. A floor taken from a few first calls, or from a
  // vendor still warming up (a fresh process answered its first calls 40 ms slower in the e2e),
  // would be too high, i.e. unsafe. Until then: 0 (each call corrected by its whole round trip).
  const answerFloorMs = (l: Lane): number => {
    if (l.rtts.length < MIN_RTT_SAMPLES) return 0;
    // Two plain loops, no arrays: this runs once per call.
    let fastest = Number.POSITIVE_INFINITY;
    for (const r of l.rtts) if (r < fastest) fastest = r;
    let near = 0;
    for (const r of l.rtts) if (r <= fastest + STABLE_FLOOR_MS) near++;
    if (near < STABLE_FLOOR_SAMPLES) return 0;
    return Math.max(0, fastest - 1);
  };

  const makeRelease = (vendor: string, token: string, grantedAtUs: number, holdsSlot: boolean, at?: ScriptTime): Release => {
    let released = false;
    let settled = false;
    const release = async () => {
      if (released) return;
      released = true;
      // Released without a settle: the call was never made (breaker, abort, no payload). The
      // grant only leaves the unsettled set, so it stops holding its rate slot past the window.
      let forget: Promise<void> | undefined;
      if (!settled) {
        settled = true;
        forget = correct(vendor, { token, stampUs: grantedAtUs }).catch(onError);
      }
      if (holdsSlot) {
        lanes.get(vendor)?.wake?.();
        // A lost release is not fatal: the lease frees the slot. Never throw into the caller's finally.
        await cmd.vfQuotaRelease(keys.quota(vendor, 'inflight'), token, releasedChannel(vendor)).catch(onError);
      }
      await forget;
    };
    // The stamp on this process' clock, at the earliest (the script read Redis' time after sentAt).
    const stampLocalMin = at ? at.sentAt + (grantedAtUs - at.nowUs) / 1000 : Number.NEGATIVE_INFINITY;
    const settle = async (timing: CallTiming): Promise<void> => {
      if (settled) return;
      settled = true;
      const l = lane(vendor);
      // The vendor received the call before its answer arrived, and at least its answer floor earlier.
      const receivedBy = timing.endedAt - answerFloorMs(l);
      if (timing.answered) {
        l.rtts[l.rttNext] = timing.endedAt - (timing.wireAt ?? timing.sentAt);
        l.rttNext = (l.rttNext + 1) % rttSamples;
      }
      // Always told, even when the stamp was right (then the entry stays at its stamp): until
      // then the gate keeps the grant counted as if its call could still be arriving.
      // Within the margin the log is right; beyond it the entry moves to receivedBy − margin.
      const toLocal = receivedBy - stampLocalMin <= marginMs ? undefined : receivedBy - marginMs;
      await correct(vendor, { token, stampUs: grantedAtUs, called: true, ...(toLocal !== undefined ? { toLocal } : {}) }).catch(onError);
    };
    return Object.assign(release, { grantedAtUs, settle });
  };

  // Settlements of this event-loop turn, by vendor, sent as one vfQuotaSettle per vendor from a
  // setImmediate: at high call rates many calls end in the same turn, and one round trip per
  // call was a Redis command and a script run per job. The wait is one turn at most.
  const correct = batchPerTurn<{
    token: string;
    stampUs: number;
    /** False or unset: the call was never made. */
    called?: boolean;
    /** Where the entry should move, on performance.now()'s clock (ms); unset: stays at its stamp. */
    toLocal?: number;
  }>((vendor, list) => {
    // Back-dates from the moment of sending (Redis reads its "now" after that: safe side).
    const sentAt = performance.now();
    const args: (string | number)[] = [];
    for (const c of list) {
      const back = !c.called ? -1 : c.toLocal === undefined ? NOT_MOVED_US : Math.round(Math.max(0, (sentAt - c.toLocal) * 1000));
      args.push(c.token, back, c.stampUs);
    }
    return cmd.vfQuotaSettle(keys.quota(vendor, 'window'), unsettledKey(vendor), windowUs, ...args);
  });

  // Re-stamps slow grants until a round trip is fast enough; undefined when they had to be given up.
  const freshen = async (vendor: string, tokens: string[], holdSlots: boolean): Promise<ScriptTime | undefined> => {
    for (let attempt = 0; ; attempt++) {
      const sentAt = performance.now();
      let moved = 0;
      let nowUs: number;
      try {
        [moved, nowUs] = await cmd.vfQuotaRestamp(keys.quota(vendor, 'window'), windowUs, 0, ...tokens);
      } catch (err) {
        onError(err);
        nowUs = 0;
      }
      const recvAt = performance.now();
      if (moved === 1 && recvAt - sentAt <= freshGrantMs) return { sentAt, recvAt, nowUs };
      if (moved !== 1 || attempt >= 4 || closed) {
        // Given up: the rate slots stay used (safe side); the in-flight slots go back now, and
        // the grants leave the unsettled set (never handed over, so never called).
        await Promise.all(tokens.map((t) => makeRelease(vendor, t, 0, holdSlots)()));
        return undefined;
      }
    }
  };

  // Hands a granted slot to its waiter when the slot's stamp has come (never before it: the wait
  // counts from when the answer was handled, which is after the script read Redis' time).
  const handOver = (w: Waiter, release: Release, at: ScriptTime): void => {
    const hand = () => {
      if (w.signal?.aborted || closed) {
        // Aborted meanwhile: hand the slot straight back (its rate slot stays used: safe side).
        void release();
        w.reject(w.signal?.aborted ? abortReason(w.signal) : new Error('quota gate is closed'));
      } else w.resolve(release);
    };
    const waitMs = at.recvAt + (release.grantedAtUs - at.nowUs) / 1000 - performance.now();
    if (waitMs > 0) setTimeout(hand, waitMs);
    else hand();
  };

  // Serves one vendor's waiters in FIFO order: one script call asks for a slot for each of the
  // first `maxBatch` waiters, so a burst costs one round trip, not one per call.
  const pump = async (vendor: string, l: Lane): Promise<void> => {
    if (l.pumping) return;
    l.pumping = true;
    let errorBackoffMs = 50;
    try {
      while (l.queue.length > 0 && !closed) {
        const batch = l.queue.slice(0, maxBatch);
        const { requestsPerSecond, burst, maxInFlight } = batch[0]!.quota;
        // One lease per script call: the longest any waiter of the batch asked for.
        const batchLeaseMs = Math.max(...batch.map((w) => w.leaseMs ?? leaseMs));
        const tokens = batch.map(() => randomUUID());
        for (const w of batch) w.asking = true;
        let reply: [number, number, number, string, ...number[]];
        const sentAt = performance.now();
        try {
          reply = await cmd.vfQuotaAcquire(
            keys.quota(vendor, 'window'),
            keys.quota(vendor, 'inflight'),
            keys.quota(vendor, 'pause'),
            unsettledKey(vendor),
            requestsPerSecond, burst, maxInFlight, windowUs, batchLeaseMs * 1000, TAT_MEMBER, reserveAheadUs, ...tokens,
          );
          errorBackoffMs = 50;
        } catch (err) {
          reply = [0, 0, errorBackoffMs * 1000, 'error'];
          errorBackoffMs = Math.min(errorBackoffMs * 2, 2000);
          onError(err);
        }
        let [granted, nowUs, waitUs, why, ...stamps] = reply;
        let at: ScriptTime = { sentAt, recvAt: performance.now(), nowUs };
        if (granted > 0 && at.recvAt - sentAt > freshGrantMs) {
          const fresh = await freshen(vendor, tokens.slice(0, granted), maxInFlight > 0);
          if (fresh === undefined) [granted, waitUs, why] = [0, 0, 'stale'];
          else {
            at = fresh;
            stamps = stamps.map((st) => Math.max(st, fresh.nowUs));
          }
        }
        const served = new Set(batch.slice(0, granted));
        l.queue = l.queue.filter((w) => !served.has(w));
        for (const [i, w] of batch.entries()) {
          w.asking = false;
          const release = i < granted ? makeRelease(vendor, tokens[i]!, stamps[i]!, maxInFlight > 0, at) : undefined;
          if (release) handOver(w, release, at);
          else if (w.signal?.aborted || closed) {
            l.queue = l.queue.filter((x) => x !== w);
            w.reject(w.signal?.aborted ? abortReason(w.signal) : new Error('quota gate is closed'));
          }
        }
        if (granted === batch.length || l.queue.length === 0) continue;
        // A rate slot is asked for as soon as it is within the reservation horizon.
        const aheadUs = why === 'rate' ? reserveAheadUs : 0;
        let waitMs = Math.ceil(Math.max(0, waitUs - aheadUs) / 1000) + Math.random() * jitterMs;
        if (why === 'inflight') {
          await listenForReleases(vendor);
          waitMs = Math.min(waitMs, recheckMs);
        }
        await sleep(l, waitMs);
      }
    } finally {
      l.pumping = false;
    }
  };

  return {
    acquire(vendor, quota, signal, acquireOpts) {
      return new Promise<Release>((resolve, reject) => {
        if (closed) return reject(new Error('quota gate is closed'));
        if (signal?.aborted) return reject(abortReason(signal));
        let normalized: Required<Quota>;
        try {
          normalized = normalizeQuota(quota);
        } catch (err) {
          return reject(err);
        }
        const l = lane(vendor);
        // An aborted waiter is rejected at once; if its batch is being asked for, the pump later
        // removes it and hands back a slot it may have been granted.
        const onAbort = () => {
          if (!waiter.asking) l.queue = l.queue.filter((x) => x !== waiter);
          waiter.reject(abortReason(signal!));
        };
        // Settling removes the listener: a long-lived signal (shutdown) must not collect one per call.
        const waiter: Waiter = {
          quota: normalized,
          ...(acquireOpts?.leaseMs !== undefined ? { leaseMs: acquireOpts.leaseMs } : {}),
          signal,
          asking: false,
          resolve: (r) => {
            signal?.removeEventListener('abort', onAbort);
            resolve(r);
          },
          reject: (e) => {
            signal?.removeEventListener('abort', onAbort);
            reject(e);
          },
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        l.queue.push(waiter);
        void pump(vendor, l);
      });
    },

    async pause(vendor, ms) {
      if (!(ms > 0)) return;
      await cmd.vfQuotaPause(keys.quota(vendor, 'pause'), Math.ceil(ms));
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const l of lanes.values()) {
        const waiting = l.queue;
        l.queue = [];
        for (const w of waiting) w.reject(new Error('quota gate is closed'));
        l.wake?.();
      }
      if (subscriber) {
        if (onMessage) subscriber.off('message', onMessage);
        if (ownsSubscriber) subscriber.disconnect();
        else if (subscribed.size > 0) await subscriber.unsubscribe(...subscribed).catch(onError);
      }
    },
  };
}
