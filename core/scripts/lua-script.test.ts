// luaScript() against a real redis-server: the source goes to Redis once per connection, after
// that only its SHA, and a Redis that lost its scripts gets the source again.
import { Redis } from 'ioredis';
import { useRedisServer } from '../../testing/use-redis-server.js';
import { luaScript } from './lua-script.js';

const server = useRedisServer();

const incrBy = luaScript<[counter: string], [by: number], number>({
  name: 'vfTestIncrBy',
  numberOfKeys: 1,
  lua: `return redis.call('INCRBY', KEYS[1], ARGV[1])`,
});

/** EVAL and EVALSHA calls since the last CONFIG RESETSTAT. */
async function scriptCalls(): Promise<{ eval: number; evalsha: number }> {
  const stats = await server.redis.info('commandstats');
  const calls = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  return { eval: calls('eval'), evalsha: calls('evalsha') };
}

test('the source goes once per connection, then EVALSHA; keys and arguments reach the script', async () => {
  const a = new Redis(server.url);
  const b = new Redis(server.url);
  try {
    await server.redis.config('RESETSTAT');
    expect(await incrBy(a, ['c1'], [2])).toBe(2);
    expect(await incrBy(a, ['c1'], [3])).toBe(5);
    expect(await incrBy(a, ['c1'], [4])).toBe(9);
    expect(await incrBy(b, ['c1'], [1])).toBe(10); // another connection: its own first EVAL
    expect(await scriptCalls()).toEqual({ eval: 2, evalsha: 2 });
  } finally {
    a.disconnect();
    b.disconnect();
  }
});

test('a Redis that lost its scripts (restart, SCRIPT FLUSH) is sent the source again', async () => {
  const a = new Redis(server.url);
  try {
    expect(await incrBy(a, ['c2'], [1])).toBe(1);
    await server.redis.script('FLUSH');
    expect(await incrBy(a, ['c2'], [1])).toBe(2);
  } finally {
    a.disconnect();
  }
});
