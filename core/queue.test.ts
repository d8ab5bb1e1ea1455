// The queue adapter against a real redis-server.
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../e2e/support/redis-server.js';
import { keys } from './keys.js';
import {
  ack,
  addFreeCall,
  freeCalls,
  createAckBatcher,
  deadLetter,
  DEFAULT_DEAD_LETTER_MAX_LEN,
  enqueue,
  ensureGroup,
  forgetDeadConsumer,
  isNoGroupError,
  promoteDue,
  readNew,
  reclaimIdle,
  requeue,
  scheduleRetry,
  streamBacklog,
  trimAcknowledged,
} from './queue.js';

let server: RedisServer;
let redis: Redis;
let n = 0;
const vendor = () => `q${++n}`;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

test('ensureGroup is idempotent and delivers entries queued before the group existed', async () => {
  const v = vendor();
  await enqueue(redis, v, 'early');
  await ensureGroup(redis, v);
  await ensureGroup(redis, v);
  const r = await readNew(redis, v, 'c1', 10, 10);
  expect(r.entries.map((e) => e.requestId)).toEqual(['early']);
});

test('a missing group is reported as NOGROUP', async () => {
  const v = vendor();
  const err = await readNew(redis, v, 'c1', 1, 10).catch((e: unknown) => e);
  expect(isNoGroupError(err)).toBe(true);
  expect(isNoGroupError(new Error('NOGROUP but not from Redis'))).toBe(false);
});

test('promoteDue moves only due retries into the stream, once', async () => {
  const v = vendor();
  await ensureGroup(redis, v);
  await enqueue(redis, v, 'a');
  await enqueue(redis, v, 'b');
  const [a, b] = (await readNew(redis, v, 'c1', 10, 10)).entries;
  await scheduleRetry(redis, v, a!, 1000);
  await scheduleRetry(redis, v, b!, 5000);
  expect((await redis.xpending(keys.stream(v), keys.group))[0]).toBe(0); // both acked
  expect(await promoteDue(redis, v, 999)).toBe(0);
  const [first, second] = await Promise.all([promoteDue(redis, v, 1000), promoteDue(redis, v, 1000)]);
  expect(first + second).toBe(1);
  expect((await readNew(redis, v, 'c1', 10, 10)).entries.map((e) => e.requestId)).toEqual(['a']);
  expect(await redis.zrange(keys.delayed(v), '0', '-1')).toEqual(['b']);
});

test('reclaimIdle takes over idle entries of another consumer; requeue hands one back', async () => {
  const v = vendor();
  await ensureGroup(redis, v);
  await enqueue(redis, v, 'x');
  await enqueue(redis, v, 'y');
  await readNew(redis, v, 'dead', 10, 10);
  expect((await reclaimIdle(redis, v, 'alive', 60_000, 10)).entries).toEqual([]);
  await new Promise((r) => setTimeout(r, 30));
  const r = await reclaimIdle(redis, v, 'alive', 20, 10);
  expect(r.entries.map((e) => e.requestId)).toEqual(['x', 'y']);
  await requeue(redis, v, r.entries[0]!);
  await ack(redis, v, r.entries[1]!.entryId);
  expect((await redis.xpending(keys.stream(v), keys.group))[0]).toBe(0);
  expect((await readNew(redis, v, 'alive', 10, 10)).entries.map((e) => e.requestId)).toEqual(['x']);
});

test('deadLetter records the job and acks its entry atomically', async () => {
  const v = vendor();
  await ensureGroup(redis, v);
  await enqueue(redis, v, 'z');
  const [e] = (await readNew(redis, v, 'c', 1, 10)).entries;
  await deadLetter(redis, v, { requestId: 'z', error: 'vendor_error: HTTP 500', attempts: 5 }, e!.entryId);
  expect((await redis.xrange(keys.deadLetter(v), '-', '+')).map(([, f]) => f)).toEqual([['id', 'z', 'error', 'vendor_error: HTTP 500', 'attempts', '5']]);
  expect((await redis.xpending(keys.stream(v), keys.group))[0]).toBe(0);
});

test('streamBacklog reports lag and pending; trimAcknowledged keeps everything still needed', async () => {
  const v = vendor();
  expect(await streamBacklog(redis, v)).toEqual({ lag: 0, pending: 0 });
  await ensureGroup(redis, v);
  for (let i = 0; i < 150; i++) await enqueue(redis, v, `j${i}`);
  const got = (await readNew(redis, v, 'c', 120, 10)).entries;
  await ack(redis, v, ...got.slice(0, 110).map((e) => e.entryId)); // j110..j119 stay pending
  expect(await streamBacklog(redis, v)).toEqual({ lag: 30, pending: 10 });
  await trimAcknowledged(redis, v);
  const left = (await redis.xrange(keys.stream(v), '-', '+')).map(([, f]) => f[1]);
  // "~" trims whole macro nodes only: something may stay, but every needed entry does.
  expect(left.length).toBeLessThan(150);
  for (let i = 110; i < 150; i++) expect(left).toContain(`j${i}`);
  expect((await readNew(redis, v, 'c', 100, 10)).entries).toHaveLength(30);
});

test('createAckBatcher acks the entries of one turn with one XACK per vendor, and each caller learns when', async () => {
  const v = vendor();
  await ensureGroup(redis, v);
  for (const id of ['a', 'b', 'c']) await enqueue(redis, v, id);
  const r = await readNew(redis, v, 'c1', 10, 10);
  expect(r.entries).toHaveLength(3);
  const before = await redis.info('commandstats');
  const calls = (info: string) => Number(/cmdstat_xack:calls=(\d+)/.exec(info)?.[1] ?? 0);
  const ackLater = createAckBatcher(redis);
  await Promise.all(r.entries.map((e) => ackLater(v, e.entryId)));
  // Resolved only once Redis has them: nothing is pending any more.
  expect(await redis.xpending(keys.stream(v), keys.group)).toEqual([0, null, null, null]);
  expect(calls(await redis.info('commandstats')) - calls(before)).toBe(1);
});

test('createAckBatcher rejects every caller of a batch whose XACK fails', async () => {
  const v = vendor();
  await redis.set(keys.stream(v), 'not a stream'); // XACK on a string key: WRONGTYPE
  const ackLater = createAckBatcher(redis);
  const results = await Promise.allSettled([ackLater(v, '1-0'), ackLater(v, '2-0')]);
  expect(results.map((x) => x.status)).toEqual(['rejected', 'rejected']);
});

test('the dead-letter stream is capped (issue 10 item 5): only the newest entries are kept', async () => {
  const v = `v-${Math.random().toString(36).slice(2, 8)}`;
  for (let i = 0; i < 30; i++) await deadLetter(redis, v, { requestId: `r-${i}`, error: 'e', attempts: 1 }, undefined, 10);
  const entries = await redis.xrange(keys.deadLetter(v), '-', '+');
  expect(entries).toHaveLength(10);
  expect(entries.at(-1)![1][1]).toBe('r-29');
  expect(DEFAULT_DEAD_LETTER_MAX_LEN).toBeGreaterThanOrEqual(1000);
});

test('free-call counts expire when left behind (issue 10 item 5): the hash carries a TTL', async () => {
  const v = `v-${Math.random().toString(36).slice(2, 8)}`;
  await addFreeCall(redis, v, 'r-1');
  expect(await freeCalls(redis, v, 'r-1')).toBe(1);
  const ttl = await redis.ttl(keys.freeCalls(v));
  expect(ttl).toBeGreaterThan(3600);
});

test('a dead consumer is forgotten only once nothing of it is pending (DELCONSUMER would drop its entries)', async () => {
  const v = vendor();
  await ensureGroup(redis, v);
  await enqueue(redis, v, 'held');
  const [held] = (await readNew(redis, v, 'dead-1', 10, 10)).entries;
  // Still pending (e.g. touched too recently to be claimed): the consumer and its entry stay.
  expect(await forgetDeadConsumer(redis, v, 'dead-1')).toBe(false);
  const pending = (await redis.call('XPENDING', keys.stream(v), keys.group, '-', '+', 10, 'dead-1')) as unknown[][];
  expect(pending.map((p) => p[0])).toEqual([held!.entryId]);
  // Once its entry is acknowledged (taken over and finished elsewhere), it goes.
  await ack(redis, v, held!.entryId);
  expect(await forgetDeadConsumer(redis, v, 'dead-1')).toBe(true);
  const consumers = (await redis.call('XINFO', 'CONSUMERS', keys.stream(v), keys.group)) as unknown[];
  expect(consumers).toHaveLength(0);
});
