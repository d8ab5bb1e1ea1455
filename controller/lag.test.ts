import { keys } from '../core/keys.js';
import { useRedisServer } from '../testing/use-redis-server.js';
import { poolLag } from './lag.js';

const server = useRedisServer();
test('no group: every entry is lag; unknown vendor: 0', async () => {
  for (let i = 0; i < 5; i++) await server.redis.xadd(keys.stream('a'), '*', 'id', String(i));
  const l = await poolLag(server.redis, ['a', 'nobody']);
  expect(l.total).toBe(5);
  expect(l.vendors).toEqual([
    { name: 'a', lag: 5, pending: 0, circuit: 'unknown' },
    { name: 'nobody', lag: 0, pending: 0, circuit: 'unknown' },
  ]);
});

test('with a group: lag excludes delivered entries, pending counts them; circuit is read', async () => {
  const s = keys.stream('b');
  await server.redis.xgroup('CREATE', s, keys.group, '0', 'MKSTREAM');
  for (let i = 0; i < 4; i++) await server.redis.xadd(s, '*', 'id', String(i));
  await server.redis.xreadgroup('GROUP', keys.group, 'c1', 'COUNT', 3, 'STREAMS', s, '>');
  await server.redis.set(keys.circuit('b'), 'open');
  const l = await poolLag(server.redis, ['b']);
  expect(l.vendors[0]).toEqual({ name: 'b', lag: 1, pending: 3, circuit: 'open' });
});
