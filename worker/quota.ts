// The global per-vendor quota gate: every worker process asks Redis before it calls a vendor.
//
// Why hand-written and not rate-limiter-flexible (a project dependency): its RateLimiterRedis
// is a fixed-window counter (`SET key 0 EX duration NX` + `INCRBY`, the window anchored at the
// first hit), and BurstyRateLimiter only combines two such counters. A fixed window lets up to
// 2 × points through around a window edge (N at the end of one window, N at the start of the
// next), and our contract is "never more than requestsPerSecond in ANY rolling second". It has
// no in-flight cap either, and its RateLimiterQueue waits in one process only. So the gate is
// one Lua script (below) combining:
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
// The window is 1000 ms + `windowMarginMs` (default 25 ms). A grant is not the moment the vendor
// receives the call: between the two lie a Redis reply, the worker's event loop and the HTTP
// request. If call A is granted at t and dispatched late by δA while call B is granted at t + W
// and dispatched at once, the vendor sees them W − δA apart; the margin absorbs dispatch skew up
// to 25 ms (an event-loop stall on a busy 2-core box) at a cost of 2.4 % of the quota
// (1000 / 1025 = 97.6 % of requestsPerSecond at best). Callers should call the vendor right after
// `acquire` resolves.
//
// Waiting: the script never sleeps; it answers "granted" or "not before X µs from now" (why:
// pause | inflight | rate). The client sleeps exactly that plus 0–2 ms of jitter, then asks again:
// no busy polling. Within one process only the head of a per-vendor FIFO talks to Redis (the
// others wait behind it), so a pool of P processes costs about P script calls per grant, not one
// per waiting job. A head blocked by maxInFlight is woken at once by a release (pub/sub from any
// process, or a local release), else at the earliest lease expiry, at most `inFlightRecheckMs`.
// Redis errors never fail a waiter: it retries with backoff until Redis answers or its signal aborts.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keys } from '../core/keys.js';

export interface Quota {
  requestsPerSecond: number;
  /** Calls that may go back to back; 1..requestsPerSecond. Default: requestsPerSecond. */
  burst?: number;
  /** Calls open at once across every worker; 0 = unlimited. */
  maxInFlight: number;
}

/** Frees the in-flight slot of one granted call; idempotent. Carries the grant's Redis time. */
export type Release = (() => Promise<void>) & { readonly grantedAtUs: number };

export interface QuotaGate {
  /** Wait until one call to `vendor` fits its quota. Resolves with `release`, to call when the call ends (frees the in-flight slot). Waiting never fails a job; rejects only if `signal` aborts (or the gate is closed). */
  acquire(vendor: string, quota: Quota, signal?: AbortSignal): Promise<Release>;
  /** The vendor answered 429 + Retry-After: no worker anywhere calls it before `ms` from now. */
  pause(vendor: string, ms: number): Promise<void>;
  /** Rejects the waiters of this gate and closes its pub/sub connection (not `redis`). Idempotent. */
  close(): Promise<void>;
}

export interface QuotaGateOptions {
  /** How long an in-flight slot survives without release (a crashed worker). Keep it above the vendor timeout. Default 60 000 ms. */
  inFlightLeaseMs?: number;
  /** Added to the 1000 ms window against dispatch skew between grant and vendor (see top). Default 25 ms. */
  windowMarginMs?: number;
  /** Longest sleep of a waiter blocked by maxInFlight before it asks again (covers a missed release message). Default 1000 ms. */
  inFlightRecheckMs?: number;
  /** Random extra sleep, 0..jitterMs, so waiting processes do not all ask at the same instant. Default 2 ms. */
  jitterMs?: number;
  /** Connection for release notifications; default `redis.duplicate()` created when first needed. */
  subscriber?: Redis;
  /** Told about Redis errors (the waiter keeps retrying). Default: ignore. */
  onError?: (err: unknown) => void;
}

// Reserved member of the window ZSET holding the GCRA cursor (TAT, µs). Grant tokens are UUIDs.
const TAT_MEMBER = 'gcra:tat';

/**
 * vfQuotaAcquire — one attempt to take a call slot.
 * KEYS[1] window ZSET: member grant token → score grant time (µs, Redis TIME); plus TAT_MEMBER → GCRA cursor
 * KEYS[2] in-flight ZSET: member grant token → score lease expiry (µs)
 * KEYS[3] pause key: exists (PX TTL) while the vendor asked us to back off
 * ARGV[1] token (unique per attempt)   ARGV[2] requestsPerSecond   ARGV[3] burst (1..rps)
 * ARGV[4] maxInFlight (0 = unlimited)  ARGV[5] window (µs)          ARGV[6] in-flight lease (µs)
 * ARGV[7] TAT member name
 * Returns {1, grantTimeUs, 'ok'} when granted, else {0, waitUs, 'pause' | 'inflight' | 'rate'}:
 * the earliest moment worth asking again (for 'inflight': the earliest lease expiry).
 */
const ACQUIRE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pauseMs = redis.call('PTTL', KEYS[3])
if pauseMs > 0 then return {0, pauseMs * 1000, 'pause'} end

local rps = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local maxInFlight = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local lease = tonumber(ARGV[6])

if maxInFlight > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= maxInFlight then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {0, tonumber(first[2]) - now, 'inflight'}
  end
end

local tat = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[7]) or now)
redis.call('ZREM', KEYS[1], ARGV[7])
-- A grant at s is inside the window (now - window, now]; older ones leave the log.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)

local earliest = now
local n = redis.call('ZCARD', KEYS[1])
if n >= rps then
  -- After the (n - rps + 1) oldest grants leave, rps - 1 remain and one more fits.
  local e = redis.call('ZRANGE', KEYS[1], n - rps, n - rps, 'WITHSCORES')
  earliest = math.max(earliest, tonumber(e[2]) + window)
end
local spacing = window / rps
earliest = math.max(earliest, tat - (burst - 1) * spacing)

if earliest > now then
  redis.call('ZADD', KEYS[1], tat, ARGV[7])
  return {0, math.ceil(earliest - now), 'rate'}
end

redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZADD', KEYS[1], math.max(tat, now) + spacing, ARGV[7])
redis.call('PEXPIRE', KEYS[1], math.ceil(2 * window / 1000))
if maxInFlight > 0 then
  redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], math.ceil(2 * lease / 1000))
end
return {1, now, 'ok'}
`;

/**
 * vfQuotaRelease — free one in-flight slot.
 * KEYS[1] in-flight ZSET   ARGV[1] token   ARGV[2] channel told about the free slot
 * Returns 1 if the slot was still held, 0 if it had already expired or been released.
 */
const RELEASE_LUA = `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 then redis.call('PUBLISH', ARGV[2], '1') end
return removed
`;

/**
 * vfQuotaPause — nobody calls the vendor for ARGV[1] ms; never shortens a longer pause.
 * KEYS[1] pause key   ARGV[1] ms   Returns the pause left in ms.
 */
const PAUSE_LUA = `
local ms = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  return ms
end
return left
`;

interface QuotaCommands {
  vfQuotaAcquire(k1: string, k2: string, k3: string, ...argv: (string | number)[]): Promise<[number, number, string]>;
  vfQuotaRelease(k1: string, token: string, channel: string): Promise<number>;
  vfQuotaPause(k1: string, ms: number): Promise<number>;
}

function defineCommands(redis: Redis): QuotaCommands {
  const r = redis as Redis & Partial<QuotaCommands>;
  if (typeof r.vfQuotaAcquire !== 'function') {
    redis.defineCommand('vfQuotaAcquire', { numberOfKeys: 3, lua: ACQUIRE_LUA });
    redis.defineCommand('vfQuotaRelease', { numberOfKeys: 1, lua: RELEASE_LUA });
    redis.defineCommand('vfQuotaPause', { numberOfKeys: 1, lua: PAUSE_LUA });
  }
  return redis as unknown as QuotaCommands;
}

/** Channel announcing a freed in-flight slot of `vendor`. */
export const releasedChannel = (vendor: string): string => `${keys.quota(vendor, 'inflight')}:released`;

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
  signal: AbortSignal | undefined;
  resolve(release: Release): void;
  reject(err: unknown): void;
}

interface Lane {
  queue: Waiter[];
  pumping: boolean;
  /** Wakes the head early (a slot was released). */
  wake: (() => void) | undefined;
}

const abortReason = (signal: AbortSignal): unknown => signal.reason ?? new DOMException('aborted', 'AbortError');

export function createQuotaGate(redis: Redis, opts: QuotaGateOptions = {}): QuotaGate {
  const leaseMs = opts.inFlightLeaseMs ?? 60_000;
  const windowUs = (1000 + (opts.windowMarginMs ?? 25)) * 1000;
  const recheckMs = opts.inFlightRecheckMs ?? 1000;
  const jitterMs = opts.jitterMs ?? 2;
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
      l = { queue: [], pumping: false, wake: undefined };
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

  // Sleeps `ms`, or less if the lane is woken or the head waiter's signal aborts.
  const sleep = (l: Lane, ms: number, signal: AbortSignal | undefined): Promise<void> =>
    new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        if (l.wake === done) l.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal?.addEventListener('abort', done, { once: true });
      l.wake = done;
    });

  const makeRelease = (vendor: string, token: string, grantedAtUs: number, holdsSlot: boolean): Release => {
    let released = false;
    const release = async () => {
      if (released || !holdsSlot) return;
      released = true;
      lanes.get(vendor)?.wake?.();
      // A lost release is not fatal: the lease frees the slot. Never throw into the caller's finally.
      await cmd.vfQuotaRelease(keys.quota(vendor, 'inflight'), token, releasedChannel(vendor)).catch(onError);
    };
    return Object.assign(release, { grantedAtUs });
  };

  // Serves one vendor's waiters in FIFO order; only the head talks to Redis.
  const pump = async (vendor: string, l: Lane): Promise<void> => {
    if (l.pumping) return;
    l.pumping = true;
    let errorBackoffMs = 50;
    try {
      while (l.queue.length > 0 && !closed) {
        const head = l.queue[0]!;
        if (head.signal?.aborted) {
          l.queue.shift();
          head.reject(abortReason(head.signal));
          continue;
        }
        const { requestsPerSecond, burst, maxInFlight } = head.quota;
        const token = randomUUID();
        let reply: [number, number, string];
        try {
          reply = await cmd.vfQuotaAcquire(
            keys.quota(vendor, 'window'),
            keys.quota(vendor, 'inflight'),
            keys.quota(vendor, 'pause'),
            token, requestsPerSecond, burst, maxInFlight, windowUs, leaseMs * 1000, TAT_MEMBER,
          );
          errorBackoffMs = 50;
        } catch (err) {
          onError(err);
          await sleep(l, errorBackoffMs, head.signal);
          errorBackoffMs = Math.min(errorBackoffMs * 2, 2000);
          continue;
        }
        const [granted, value, why] = reply;
        if (granted === 1) {
          l.queue.shift();
          if (head.signal?.aborted) {
            // Aborted during the round trip: hand the slot straight back (the rate slot stays used: safe side).
            await makeRelease(vendor, token, value, maxInFlight > 0)();
            head.reject(abortReason(head.signal));
          } else {
            head.resolve(makeRelease(vendor, token, value, maxInFlight > 0));
          }
          continue;
        }
        let waitMs = Math.ceil(value / 1000) + Math.random() * jitterMs;
        if (why === 'inflight') {
          await listenForReleases(vendor);
          waitMs = Math.min(waitMs, recheckMs);
        }
        await sleep(l, waitMs, head.signal);
      }
    } finally {
      l.pumping = false;
    }
  };

  return {
    acquire(vendor, quota, signal) {
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
        // A waiter behind the head leaves the queue at once when aborted (the head is woken instead).
        const onAbort = () => {
          const i = l.queue.indexOf(waiter);
          if (i > 0) {
            l.queue.splice(i, 1);
            waiter.reject(abortReason(signal!));
          }
        };
        // Settling removes the listener: a long-lived signal (shutdown) must not collect one per call.
        const waiter: Waiter = {
          quota: normalized,
          signal,
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
        for (const w of l.queue.splice(0)) w.reject(new Error('quota gate is closed'));
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
