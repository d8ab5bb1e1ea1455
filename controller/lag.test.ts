import { Redis } from 'ioredis';
import { keys } from '../core/keys.js';
import { startRedis, type RedisServer } from '../e2e/support/redis-server.js';
import { poolLag } from './lag.js';

let server: RedisServer;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

test('no group: every entry is lag; unknown vendor: 0', async () => {
  for (let i = 0; i < 5; i++) await redis.xadd(keys.stream('a'), '*', 'id', String(i));
  const l = await poolLag(redis, ['a', 'nobody']);
  expect(l.total).toBe(5);
  expect(l.vendors).toEqual([
    { name: 'a', lag: 5, pending: 0, circuit: 'unknown' },
    { name: 'nobody', lag: 0, pending: 0, circuit: 'unknown' },
  ]);
});

test('with a group: lag excludes delivered entries, pending counts them; circuit is read', async () => {
  const s = keys.stream('b');
  await redis.xgroup('CREATE', s, keys.group, '0', 'MKSTREAM');
  for (let i = 0; i < 4; i++) await redis.xadd(s, '*', 'id', String(i));
  await redis.xreadgroup('GROUP', keys.group, 'c1', 'COUNT', 3, 'STREAMS', s, '>');
  await redis.set(keys.circuit('b'), 'open');
  const l = await poolLag(redis, ['b']);
  expect(l.vendors[0]).toEqual({ name: 'b', lag: 1, pending: 3, circuit: 'open' });
});
