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
 * ARGV[1] requestsPerSecond   ARGV[2] burst (1..rps)   ARGV[3] maxInFlight (0 = unlimited)
 * ARGV[4] window (µs)         ARGV[5] in-flight lease (µs)   ARGV[6] TAT member name
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
redis.call('PEXPIRE', KEYS[1], math.ceil(2 * window / 1000))
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
 * vfQuotaSettle — vfQuotaRestamp for many grants at once, each with its own back-date, each on
 * its own (settle() batches the corrections of one event-loop turn into one round trip).
 * KEYS[1] window ZSET   ARGV[1] window (µs)   ARGV[2..] pairs: grant token, back-date (µs, ≥ 0)
 * An entry moves to (this instant − its back-date) if that is later than its stamp and it is not
 * yet a window old (same safety argument as vfQuotaRestamp, per entry). Returns how many moved.
 */
const SETTLE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local moved = 0
for i = 2, #ARGV - 1, 2 do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) + window > now then
    local to = now - tonumber(ARGV[i + 1])
    if tonumber(s) < to then
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
  vfQuotaAcquire(k1: string, k2: string, k3: string, ...argv: (string | number)[]): Promise<[number, number, number, string, ...number[]]>;
  vfQuotaRelease(k1: string, token: string, channel: string): Promise<number>;
  vfQuotaPause(k1: string, ms: number): Promise<number>;
  vfQuotaRestamp(k1: string, windowUs: number, backdateUs: number, ...tokens: string[]): Promise<[number, number]>;
  vfQuotaSettle(k1: string, windowUs: number, ...tokenBackdatePairs: (string | number)[]): Promise<number>;
}

export function defineCommands(redis: Redis): QuotaCommands {
  const r = redis as Redis & Partial<QuotaCommands>;
  if (typeof r.vfQuotaSettle !== 'function') {
    redis.defineCommand('vfQuotaAcquire', { numberOfKeys: 3, lua: ACQUIRE_LUA });
    redis.defineCommand('vfQuotaRelease', { numberOfKeys: 1, lua: RELEASE_LUA });
    redis.defineCommand('vfQuotaPause', { numberOfKeys: 1, lua: PAUSE_LUA });
    redis.defineCommand('vfQuotaRestamp', { numberOfKeys: 1, lua: RESTAMP_LUA });
    redis.defineCommand('vfQuotaSettle', { numberOfKeys: 1, lua: SETTLE_LUA });
  }
  return redis as unknown as QuotaCommands;
}
