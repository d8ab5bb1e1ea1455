// The one way vendorfetch runs Lua on Redis. Every script is a module of this folder holding its
// source in a string, under a header that names its KEYS, ARGV and reply (as BullMQ's .lua
// files do). Modules rather than .lua files because the image compiles with tsc and copies only
// dist/, and tsc does not copy .lua files: a string reaches dist/ with no build step to forget.
//
// luaScript() registers a script on a connection the first time it runs there (ioredis
// defineCommand: the source goes once per socket, then EVALSHA, and EVAL again after a NOSCRIPT
// from a Redis that restarted or was flushed), and types its keys, arguments and reply.
import type { Redis } from 'ioredis';

type Arg = string | number;

/** Lua that sets `now` to Redis' clock in µs: the quota scripts all judge time by it, never the caller's. */
export const LUA_NOW_US = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])`;

/** Runs the script on `redis` with its KEYS and ARGV. */
export type LuaScript<Keys extends readonly string[], Args extends readonly Arg[], Reply> = (
  redis: Redis,
  keys: Keys,
  args: Args,
) => Promise<Reply>;

/**
 * `name` becomes a method of each connection the script runs on (keep the `vf` prefix clear of
 * Redis command names); `numberOfKeys` must match the Keys tuple.
 */
export function luaScript<Keys extends readonly string[], Args extends readonly Arg[], Reply>(def: {
  name: string;
  numberOfKeys: Keys['length'];
  lua: string;
}): LuaScript<Keys, Args, Reply> {
  const defined = new WeakSet<Redis>();
  return (redis, keys, args) => {
    if (!defined.has(redis)) {
      redis.defineCommand(def.name, { numberOfKeys: def.numberOfKeys, lua: def.lua });
      defined.add(redis);
    }
    const command = (redis as unknown as Record<string, (...a: Arg[]) => Promise<Reply>>)[def.name]!;
    return command.call(redis, ...keys, ...args);
  };
}
