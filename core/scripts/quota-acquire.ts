// The quota gate's grant (worker/quota.ts): a sliding log, a GCRA cursor, in-flight leases and
// a pause key, checked and updated in one step on Redis' clock. Why: docs/adr/0002-hand-written-quota-gate.md.
import { LUA_NOW_US, luaScript } from './lua-script.js';

/** Reserved member of the window ZSET holding the GCRA cursor (TAT, µs). Grant tokens are UUIDs. */
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
 * Unsettled grants (a worker killed mid-call never settles, and its call may reach the vendor
 * up to its lease after the stamp; ADR 0002): an unsettled entry never drops out of the windows a
 * new grant may fall in (stamps up to now + horizon). Before that it moves to now (its call may be
 * arriving now), or to its bound once that has passed, and only then leaves the unsettled set.
 */
export const quotaAcquireScript = luaScript<
  [window: string, inFlight: string, pause: string, unsettled: string],
  [
    requestsPerSecond: number,
    burst: number,
    maxInFlight: number,
    windowUs: number,
    leaseUs: number,
    tatMember: string,
    reserveAheadUs: number,
    ...tokens: string[],
  ],
  [granted: number, nowUs: number, waitUs: number, why: string, ...stamps: number[]]
>({
  name: 'vfQuotaAcquire',
  numberOfKeys: 4,
  lua: `
${LUA_NOW_US}
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
`,
});
