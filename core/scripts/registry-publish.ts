// Publishes one pool's vendors to the registry hash in one step, refusing vendors another pool
// owns (registry.ts, VendorRegistry.publish).
import { luaScript } from './lua-script.js';

/**
 * vfRegistryPublish
 * KEYS[1] registry hash: vendor name → entry JSON {"pool": …, "spec": …}
 * ARGV[1] pool   ARGV[2..] alternating vendor name, entry JSON
 * Sets each vendor unless another pool owns it (an unchanged entry is not rewritten); removes
 * this pool's vendors not listed. Returns the names refused because another pool owns them.
 */
export const registryPublishScript = luaScript<[registry: string], [pool: string, ...nameEntryPairs: string[]], string[]>({
  name: 'vfRegistryPublish',
  numberOfKeys: 1,
  lua: `
local pool = ARGV[1]
local wanted = {}
local refused = {}
for i = 2, #ARGV, 2 do
  local name, entry = ARGV[i], ARGV[i + 1]
  wanted[name] = true
  local current = redis.call('HGET', KEYS[1], name)
  if current and cjson.decode(current).pool ~= pool then
    table.insert(refused, name)
  elseif current ~= entry then
    redis.call('HSET', KEYS[1], name, entry)
  end
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if not wanted[all[i]] and cjson.decode(all[i + 1]).pool == pool then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return refused
`,
});
