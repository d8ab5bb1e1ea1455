// Moves one priority lane's due retries from its delayed set into the same lane's job stream in
// one step, so two promoters never queue the same retry twice (queue.ts, promoteDue: once per lane).
import { luaScript } from './lua-script.js';

/**
 * vfPromoteDue
 * KEYS[1] a lane's delayed set: member request_id → score due time (ms)   KEYS[2] that lane's job stream
 * ARGV[1] now (ms)   ARGV[2] most members to move
 * Moves every member due by now into the stream (XADD id=<request_id>) and removes it from the set.
 * Returns the number of members moved.
 */
export const promoteDueScript = luaScript<[delayed: string, stream: string], [nowMs: number, limit: number], number>({
  name: 'vfPromoteDue',
  numberOfKeys: 2,
  lua: `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'id', id)
  redis.call('ZREM', KEYS[1], id)
end
return #due
`,
});
