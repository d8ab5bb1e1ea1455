import { keys } from '../core/keys.js';
import { useRedisServer } from '../testing/use-redis-server.js';
import { poolLag } from './lag.js';

const server = useRedisServer();
test('no group: every entry is lag; unknown vendor: 0', async () => {
  for (let i = 0; i < 5; i++) await server.redis.xadd(keys.stream('a', 'normal'), '*', 'id', String(i));
  const l = await poolLag(server.redis, [{ name: 'a' }, { name: 'nobody' }]);
  expect(l.total).toBe(5);
  expect(l.vendors).toEqual([
    { name: 'a', lag: 5, pending: 0, circuit: 'unknown', paused: false },
    { name: 'nobody', lag: 0, pending: 0, circuit: 'unknown', paused: false },
  ]);
});

test('with a group: lag excludes delivered entries, pending counts them; circuit is read', async () => {
  const s = keys.stream('b', 'normal');
  await server.redis.xgroup('CREATE', s, keys.group, '0', 'MKSTREAM');
  for (let i = 0; i < 4; i++) await server.redis.xadd(s, '*', 'id', String(i));
  await server.redis.xreadgroup('GROUP', keys.group, 'c1', 'COUNT', 3, 'STREAMS', s, '>');
  await server.redis.set(keys.circuit('b'), 'open');
  const l = await poolLag(server.redis, [{ name: 'b' }]);
  expect(l.vendors[0]).toEqual({ name: 'b', lag: 1, pending: 3, circuit: 'open', paused: false });
});

test("a paused vendor's lag is reported but not summed: it must not scale workers up", async () => {
  for (let i = 0; i < 6; i++) await server.redis.xadd(keys.stream('held', 'normal'), '*', 'id', String(i));
  for (let i = 0; i < 2; i++) await server.redis.xadd(keys.stream('open', 'normal'), '*', 'id', String(i));
  const l = await poolLag(server.redis, [{ name: 'held', paused: true }, { name: 'open', paused: false }]);
  expect(l.total).toBe(2);
  expect(l.vendors.map((v) => [v.name, v.lag, v.paused])).toEqual([
    ['held', 6, true],
    ['open', 2, false],
  ]);
});
