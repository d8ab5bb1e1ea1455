// Pauses every worker's calls to a vendor that answered 429 + Retry-After (worker/quota.ts, pause).
import { luaScript } from './lua-script.js';

/**
 * vfQuotaPause — nobody calls the vendor for ARGV[1] ms; never shortens a longer pause.
 * KEYS[1] pause key (see vfQuotaAcquire)   ARGV[1] ms   Returns the pause left in ms.
 */
export const quotaPauseScript = luaScript<[pause: string], [ms: number], number>({
  name: 'vfQuotaPause',
  numberOfKeys: 1,
  lua: `
local ms = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  return ms
end
return left
`,
});
