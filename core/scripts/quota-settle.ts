// Settles the quota gate's grants whose calls ended (worker/quota.ts, Release.settle): moves each
// log entry to where its call reached the vendor at the latest.
import { LUA_NOW_US, luaScript } from './lua-script.js';

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
export const quotaSettleScript = luaScript<[window: string, unsettled: string], [windowUs: number, ...tokenBackdateStampTriples: (string | number)[]], number>({
  name: 'vfQuotaSettle',
  numberOfKeys: 2,
  lua: `
${LUA_NOW_US}
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
`,
});
