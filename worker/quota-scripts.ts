// The quota gate's Redis side: the Lua scripts (each with a header naming its KEYS, ARGV and
// returns) and their registration as ioredis commands. The client that drives them, and why
// the gate is hand-written, is in quota.ts.
import type { Redis } from 'ioredis';

// Reserved member of the window ZSET holding the GCRA cursor (TAT, µs). Grant tokens are UUIDs.
export const TAT_MEMBER = 'gcra:tat';

/**
 * vfQuotaAcquire — take up to one call slot per token, all at this instant (a batch of waiters).
 * KEYS[1] window ZSET: member grant token → score grant time (µs, Redis TIME); plus ARGV[6] → GCRA cursor (TAT, µs)
 * KEYS[2] in-flight ZSET: member grant token → score lease expiry (µs)
 * KEYS[3] pause key: exists (PX TTL) while the vendor asked us to back off
 * KEYS[4] unsettled ZSET: member grant token → score the latest time its call can reach the
 *         vendor (µs: stamp + lease); the grant leaves it when settled (vfQuotaSettle)
 * ARGV[1] requestsPerSecond   ARGV[2] burst (1..rps)   ARGV[3] maxInFlight (0 = unlimited)
 * ARGV[4] window (µs)         ARGV[5] in-flight lease (µs), also how long after its stamp a
 *         granted call can still reach the vendor   ARGV[6] TAT member name
 * ARGV[7] reservation horizon (µs): a rate slot free within that time from now is granted now,
 *         logged at the moment it becomes free (its stamp), and the caller waits until then
 * ARGV[8..] one unique token per slot wanted, in the waiters' order
 * Returns {granted, nowUs, waitUs, why, stamp1, …}: the first `granted` tokens got a slot, token i
 * at stamp i (≥ nowUs). If some did not, waitUs is how long from now until the next slot is free
 * and why is 'pause' | 'inflight' | 'rate' (for 'inflight': the earliest lease expiry; a release
 * usually comes first); else 0 and 'ok'.
 * Why the rolling-window check stays exact with stamps out of order (a reservation ahead of a later
 * grant): it counts every entry later than stamp − window, future ones included — a superset of
 * any window that contains the new stamp.
 * Unsettled grants: a grant's entry is where its call reached the vendor at the earliest; only
 * settle() tells how late it may really have arrived. A grant whose worker died before settling
 * (SIGKILL mid-call) never tells, and its call may have arrived well after its stamp: counted at
 * its stamp, it left the log a window later and let calls through that the vendor saw within the
 * same rolling second (26-29 in one second at a 25 rps quota in e2e/faults/quota-crash.test.ts).
 * So an unsettled entry never drops out of the windows a new grant may fall in (stamps up to
 * now + horizon): before that, it moves to now (its call may be arriving now), or to its bound
 * once that has passed (no call can arrive later), and only then leaves the unsettled set.
 */
const ACQUIRE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pauseMs = redis.call('PTTL', KEYS[3])
if pauseMs > 0 then return {0, now, pauseMs * 1000, 'pause'} end

local rps = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local maxInFlight = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local lease = tonumber(ARGV[5])
local horizon = tonumber(ARGV[7])
local spacing = window / rps

local inFlight = 0
if maxInFlight > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  inFlight = redis.call('ZCARD', KEYS[2])
end

local tat = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[6]) or now)
redis.call('ZREM', KEYS[1], ARGV[6])
-- Unsettled grants about to leave the windows of this call's stamps (see the header). Bounds a
-- window past: their calls reached the vendor before any window this call can count.
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now + horizon - window, 'WITHSCORES')
for i = 1, #old, 2 do
  local bound = redis.call('ZSCORE', KEYS[4], old[i])
  if bound then
    bound = tonumber(bound)
    local to = math.min(now, bound)
    if to > tonumber(old[i + 1]) then redis.call('ZADD', KEYS[1], 'XX', to, old[i]) end
    if bound <= now then redis.call('ZREM', KEYS[4], old[i]) end
  end
end
-- A grant at s counts in the window (now - window, now]; older ones leave the log.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])

local granted, waitUs, why = 0, 0, 'ok'
local stamps = {}
for i = 8, #ARGV do
  if maxInFlight > 0 and inFlight >= maxInFlight then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    waitUs, why = math.max(1, tonumber(first[2]) - now), 'inflight'
    break
  end
  local earliest = now
  if n >= rps then
    -- Once the (n - rps + 1) oldest grants have left, rps - 1 remain and one more fits.
    local e = redis.call('ZRANGE', KEYS[1], n - rps, n - rps, 'WITHSCORES')
    earliest = math.max(earliest, tonumber(e[2]) + window)
  end
  earliest = math.max(earliest, tat - (burst - 1) * spacing)
  if earliest > now + horizon then
    waitUs, why = math.ceil(earliest - now), 'rate'
    break
  end
  earliest = math.ceil(earliest)
  redis.call('ZADD', KEYS[1], earliest, ARGV[i])
  redis.call('ZADD', KEYS[4], earliest + lease, ARGV[i])
  stamps[#stamps + 1] = earliest
  n = n + 1
  tat = math.max(tat, earliest) + spacing
  if maxInFlight > 0 then
    redis.call('ZADD', KEYS[2], now + lease, ARGV[i])
    inFlight = inFlight + 1
  end
  granted = granted + 1
end

redis.call('ZADD', KEYS[1], tat, ARGV[6])
-- Idle for two windows, the log may go; while unsettled grants may still arrive, it must stay.
-- Never shortened (PTTL: -1 without a TTL, -2 when the key is gone).
local keepMs = math.ceil(2 * window / 1000)
if granted > 0 then keepMs = math.ceil((lease + 2 * window) / 1000) end
if redis.call('PTTL', KEYS[1]) < keepMs then redis.call('PEXPIRE', KEYS[1], keepMs) end
if redis.call('PTTL', KEYS[4]) < keepMs then redis.call('PEXPIRE', KEYS[4], keepMs) end
if granted > 0 and maxInFlight > 0 then
  redis.call('PEXPIRE', KEYS[2], math.ceil(2 * lease / 1000))
end
return {granted, now, waitUs, why, unpack(stamps)}
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
 * vfQuotaRestamp — move the log entries of grants later, to (this instant − ARGV[2]), because the
 * vendor may have seen them later than their stamp + margin (slow handover, slow send); an entry
 * already later stays.
 * KEYS[1] window ZSET   ARGV[1] window (µs)   ARGV[2] back-date (µs, ≥ 0)   ARGV[3..] grant tokens
 * Returns {1, nowUs} when every entry moved, {0, nowUs} when a grant is already a window old (it
 * may have left the log and been counted out by a later grant): then nothing moves.
 * Safe: until a grant is a window old, every grant made since counted it inside its window, and
 * from now on every grant counts it at its new, later time.
 */
const RESTAMP_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local to = now - tonumber(ARGV[2])
for i = 3, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if not s or tonumber(s) + window <= now then return {0, now} end
end
for i = 3, #ARGV do
  if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i])) < to then redis.call('ZADD', KEYS[1], 'XX', to, ARGV[i]) end
end
return {1, now}
`;

/**
 * vfQuotaSettle — settle many grants at once (settle() batches those of one event-loop turn into
 * one round trip): each leaves the unsettled set, and its entry goes where its call reached the
 * vendor at the latest, as far as the caller knows.
 * KEYS[1] window ZSET   KEYS[2] unsettled ZSET (see vfQuotaAcquire)   ARGV[1] window (µs)
 * ARGV[2..] triples: grant token, back-date (µs, ≥ 0; or -1: the call was never made), the
 *           grant's stamp (µs)
 * A grant still unsettled goes to max(stamp, this instant − back-date): safe even when that is
 * earlier than where the unsettled rule had moved it, because every grant made meanwhile counted
 * it, and from now on it counts no earlier than its call can have arrived (less the margin).
 * A grant no longer in the unsettled set (its bound passed, or granted by an older gate) only
 * moves later, and only while it is not yet a window old (same argument as vfQuotaRestamp).
 * A call never made only leaves the unsettled set: its entry stays (its rate slot stays used).
 * Returns how many entries moved.
 */
const SETTLE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local moved = 0
for i = 2, #ARGV - 2, 3 do
  local back = tonumber(ARGV[i + 1])
  local unsettled = redis.call('ZREM', KEYS[2], ARGV[i]) == 1
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and back >= 0 then
    s = tonumber(s)
    local to = now - back
    if unsettled then
      to = math.max(tonumber(ARGV[i + 2]), to)
    elseif s + window <= now or to <= s then
      to = s
    end
    if to ~= s then
      redis.call('ZADD', KEYS[1], 'XX', to, ARGV[i])
      moved = moved + 1
    end
  end
end
return moved
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

export interface QuotaCommands {
  vfQuotaAcquire(k1: string, k2: string, k3: string, k4: string, ...argv: (string | number)[]): Promise<[number, number, number, string, ...number[]]>;
  vfQuotaRelease(k1: string, token: string, channel: string): Promise<number>;
  vfQuotaPause(k1: string, ms: number): Promise<number>;
  vfQuotaRestamp(k1: string, windowUs: number, backdateUs: number, ...tokens: string[]): Promise<[number, number]>;
  vfQuotaSettle(k1: string, k2: string, windowUs: number, ...tokenBackdateStampTriples: (string | number)[]): Promise<number>;
}

export function defineCommands(redis: Redis): QuotaCommands {
  const r = redis as Redis & Partial<QuotaCommands>;
  if (typeof r.vfQuotaSettle !== 'function') {
    redis.defineCommand('vfQuotaAcquire', { numberOfKeys: 4, lua: ACQUIRE_LUA });
    redis.defineCommand('vfQuotaRelease', { numberOfKeys: 1, lua: RELEASE_LUA });
    redis.defineCommand('vfQuotaPause', { numberOfKeys: 1, lua: PAUSE_LUA });
    redis.defineCommand('vfQuotaRestamp', { numberOfKeys: 1, lua: RESTAMP_LUA });
    redis.defineCommand('vfQuotaSettle', { numberOfKeys: 2, lua: SETTLE_LUA });
  }
  return redis as unknown as QuotaCommands;
}
