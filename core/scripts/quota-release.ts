// Frees one in-flight slot of the quota gate (worker/quota.ts) and wakes the waiters of every
// worker process, in one step.
import { luaScript } from './lua-script.js';

/**
 * vfQuotaRelease — free one in-flight slot.
 * KEYS[1] in-flight ZSET (see vfQuotaAcquire)   ARGV[1] grant token   ARGV[2] channel told about the free slot
 * Returns 1 if the slot was still held, 0 if it had already expired or been released.
 */
export const quotaReleaseScript = luaScript<[inFlight: string], [token: string, channel: string], number>({
  name: 'vfQuotaRelease',
  numberOfKeys: 1,
  lua: `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 then redis.call('PUBLISH', ARGV[2], '1') end
return removed
`,
});
