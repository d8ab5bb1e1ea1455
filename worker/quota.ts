// The global per-vendor quota gate: every worker process asks Redis before it calls a vendor, so
// that across all workers a vendor gets at most requestsPerSecond calls in any rolling second, at
// most `burst` back to back, and at most maxInFlight open at once. Why it is hand-written, and
// how its log is kept true to what the vendor sees (the window margin, settle(), unsettled
// grants, fresh grants, reservations): docs/adr/0002-hand-written-quota-gate.md. The Lua side is
// core/scripts/quota-*.ts, the timing estimates quota-timing.ts, the release notifications
// quota-releases.ts.
//
// Callers call the vendor right after `acquire`, call settle() right after the call, and
// release() when done (release() without a settle: the call was never made).
//
// Waiting: the script never sleeps; it answers "granted" or "not before X µs from now" (why:
// pause | inflight | rate), and the waiter sleeps that long (see nextAskMs): no busy polling.
// Within one process the waiters of a vendor form a FIFO served by one pump, and one script call
// asks for a slot for each of the first `maxBatch` of them: a burst costs one round trip, and a
// pool of P processes about P script calls per grant, not one per waiting job. Waiters blocked by
// maxInFlight are woken at once by a release (pub/sub from any process, or a local release).
// Redis errors never fail a waiter: it retries with backoff until Redis answers or its signal aborts.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { batchPerTurn } from '../core/batch.js';
import { keys } from '../core/keys.js';
import { quotaAcquireScript, TAT_MEMBER } from '../core/scripts/quota-acquire.js';
import { quotaPauseScript } from '../core/scripts/quota-pause.js';
import { quotaReleaseScript } from '../core/scripts/quota-release.js';
import { quotaRestampScript } from '../core/scripts/quota-restamp.js';
import { quotaSettleScript } from '../core/scripts/quota-settle.js';
import { createReleaseListener, releasedChannel } from './quota-releases.js';
import { earliestLocal, nextAskMs, RoundTrips, settleBackdateUs, settledEntryAt, untilStampMs, type ScriptTime } from './quota-timing.js';

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
   * later than stamp + margin (ADR 0002), the gate moves the log entry later; until settled, the
   * grant counts as if its call could still be arriving (ADR 0002). Never throws.
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
  /** Added to the 1000 ms window against dispatch skew between grant and vendor (ADR 0002). Default 5 ms. */
  windowMarginMs?: number;
  /** A rate slot free within this time is granted ahead, and the caller waits until it is free (ADR 0002). Default 15 ms. */
  reserveAheadMs?: number;
  /** Round trips remembered per vendor; the fastest of them bounds when the vendor saw a call (RoundTrips; at least 8). Default 64. */
  rttSamples?: number;
  /** A grant whose round trip took longer is re-stamped at Redis' now before it is handed out (ADR 0002); after 5 slow re-stamps in a row it is given up and asked for anew (safety over liveness). Default 10 ms. */
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

/** Grants whose call has not been settled yet, with the latest time it can reach the vendor (core/scripts/quota-acquire.ts). */
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
  roundTrips: RoundTrips;
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
  const rttSamples = opts.rttSamples ?? 64;
  const freshGrantMs = Math.max(1, opts.freshGrantMs ?? 10);
  const recheckMs = opts.inFlightRecheckMs ?? 1000;
  const jitterMs = opts.jitterMs ?? 2;
  const maxBatch = opts.maxBatch ?? 64;
  const onError = opts.onError ?? (() => {});
  const lanes = new Map<string, Lane>();
  let closed = false;
  const releases = createReleaseListener(redis, { subscriber: opts.subscriber, onError, onRelease: (vendor) => lanes.get(vendor)?.wake?.() });

  const lane = (vendor: string): Lane => {
    let l = lanes.get(vendor);
    if (!l) {
      l = { queue: [], roundTrips: new RoundTrips(rttSamples), pumping: false, wake: undefined };
      lanes.set(vendor, l);
    }
    return l;
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
        await quotaReleaseScript(redis, [keys.quota(vendor, 'inflight')], [token, releasedChannel(vendor)]).catch(onError);
      }
      await forget;
    };
    const stampEarliestLocal = at ? earliestLocal(at, grantedAtUs) : Number.NEGATIVE_INFINITY;
    const settle = async (timing: CallTiming): Promise<void> => {
      if (settled) return;
      settled = true;
      const { roundTrips } = lane(vendor);
      // The floor of the round trips before this one: this call's own is recorded after.
      const toLocal = settledEntryAt(timing.endedAt, roundTrips.answerFloorMs(), stampEarliestLocal, marginMs);
      roundTrips.record(timing);
      // Always told, even when the stamp was right (then the entry stays at its stamp): until
      // then the gate keeps the grant counted as if its call could still be arriving.
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
    const sentAt = performance.now();
    const triples: (string | number)[] = [];
    // -1: the call was never made (the script only forgets the grant).
    for (const c of list) triples.push(c.token, c.called ? settleBackdateUs(c.toLocal, sentAt) : -1, c.stampUs);
    return quotaSettleScript(redis, [keys.quota(vendor, 'window'), unsettledKey(vendor)], [windowUs, ...triples]);
  });

  // Re-stamps slow grants until a round trip is fast enough; undefined when they had to be given up.
  const freshen = async (vendor: string, tokens: string[], holdSlots: boolean, spacingUs: number): Promise<ScriptTime | undefined> => {
    for (let attempt = 0; ; attempt++) {
      const sentAt = performance.now();
      let moved = 0;
      let nowUs: number;
      try {
        [moved, nowUs] = await quotaRestampScript(redis, [keys.quota(vendor, 'window'), unsettledKey(vendor)], [windowUs, 0, spacingUs, TAT_MEMBER, ...tokens]);
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
    const waitMs = untilStampMs(at, release.grantedAtUs, performance.now());
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
          reply = await quotaAcquireScript(
            redis,
            [keys.quota(vendor, 'window'), keys.quota(vendor, 'inflight'), keys.quota(vendor, 'pause'), unsettledKey(vendor)],
            [requestsPerSecond, burst, maxInFlight, windowUs, batchLeaseMs * 1000, TAT_MEMBER, reserveAheadUs, ...tokens],
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
          const fresh = await freshen(vendor, tokens.slice(0, granted), maxInFlight > 0, windowUs / requestsPerSecond);
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
        if (why === 'inflight') await releases.listen(vendor);
        await sleep(l, nextAskMs({ waitUs, why }, { reserveAheadUs, recheckMs }, Math.random() * jitterMs));
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
      await quotaPauseScript(redis, [keys.quota(vendor, 'pause')], [Math.ceil(ms)]);
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
      await releases.close();
    },
  };
}
