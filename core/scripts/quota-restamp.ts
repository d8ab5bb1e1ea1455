// Moves the quota gate's fresh grants to Redis' now when their reply came back slowly
// (worker/quota.ts, freshGrantMs).
import { LUA_NOW_US, luaScript } from './lua-script.js';

/**
 * vfQuotaRestamp — move the log entries of grants later, to (this instant − ARGV[2]), because the
 * vendor may have seen them later than their stamp + margin (slow handover, slow send); an entry
 * already later stays. What was derived from the old stamp moves with it: the grant's unsettled
 * bound (stamp + lease) by the same amount, and the GCRA cursor to at least new stamp + spacing —
 * else a grant re-stamped and then never settled would stop counting early, and the next grant
 * could come closer than the spacing.
 * KEYS[1] window ZSET (see vfQuotaAcquire)   KEYS[2] unsettled ZSET (see vfQuotaAcquire)
 * ARGV[1] window (µs)   ARGV[2] back-date (µs, ≥ 0)   ARGV[3] spacing (µs: window / rps)
 * ARGV[4] TAT member name   ARGV[5..] grant tokens
 * Returns {1, nowUs} when every entry moved, {0, nowUs} when a grant is already a window old (it
 * may have left the log and been counted out by a later grant): then nothing moves.
 * Safe: until a grant is a window old, every grant made since counted it inside its window, and
 * from now on every grant counts it at its new, later time.
 */
export const quotaRestampScript = luaScript<
  [window: string, unsettled: string],
  [windowUs: number, backdateUs: number, spacingUs: number, tatMember: string, ...tokens: string[]],
  [moved: number, nowUs: number]
>({
  name: 'vfQuotaRestamp',
  numberOfKeys: 2,
  lua: `
${LUA_NOW_US}
local window = tonumber(ARGV[1])
local to = now - tonumber(ARGV[2])
for i = 5, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if not s or tonumber(s) + window <= now then return {0, now} end
end
local tat = redis.call('ZSCORE', KEYS[1], ARGV[4])
for i = 5, #ARGV do
  local delta = to - tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i]))
  if delta > 0 then
    redis.call('ZADD', KEYS[1], 'XX', to, ARGV[i])
    local bound = redis.call('ZSCORE', KEYS[2], ARGV[i])
    if bound then redis.call('ZADD', KEYS[2], 'XX', tonumber(bound) + delta, ARGV[i]) end
    if tat and tonumber(tat) < to + tonumber(ARGV[3]) then tat = to + tonumber(ARGV[3]) end
  end
end
if tat then redis.call('ZADD', KEYS[1], 'XX', tat, ARGV[4]) end
return {1, now}
`,
});
