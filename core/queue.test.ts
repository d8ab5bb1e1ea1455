// The queue adapter against a real redis-server.
import { useRedisServer } from '../testing/use-redis-server.js';
import { keys } from './keys.js';
import {
  ack,
  addFreeCall,
  freeCalls,
  createAckBatcher,
  deadLetter,
  DEFAULT_DEAD_LETTER_MAX_LEN,
  enqueue,
  enqueueMany,
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

const server = useRedisServer();
let n = 0;
const vendor = () => `q${++n}`;

test('ensureGroup is idempotent and delivers entries queued before the group existed', async () => {
  const v = vendor();
  await enqueue(server.redis, v, 'early');
  await ensureGroup(server.redis, v);
  await ensureGroup(server.redis, v);
  const r = await readNew(server.redis, v, 'c1', 10, 10);
  expect(r.entries.map((e) => e.requestId)).toEqual(['early']);
});

test('enqueueMany queues every id in one pipeline, in order; a failing stream fails each of its entries', async () => {
  const v = vendor();
  const ids = Array.from({ length: 300 }, (_, i) => `job-${i}`);
  const out = await enqueueMany(server.redis, v, ids);
  expect(out.every((e) => typeof e === 'string')).toBe(true);
  await ensureGroup(server.redis, v);
  const r = await readNew(server.redis, v, 'c1', 1000, 10);
  expect(r.entries.map((e) => e.requestId)).toEqual(ids);
  expect(await enqueueMany(server.redis, v, [])).toEqual([]);

  const broken = vendor();
  await server.redis.set(keys.stream(broken), 'not a stream'); // every XADD gets WRONGTYPE
  const failed = await enqueueMany(server.redis, broken, ['a', 'b']);
  expect(failed).toHaveLength(2);
  for (const e of failed) expect(e).toBeInstanceOf(Error);
});

test('a missing group is reported as NOGROUP', async () => {
  const v = vendor();
  const err = await readNew(server.redis, v, 'c1', 1, 10).catch((e: unknown) => e);
  expect(isNoGroupError(err)).toBe(true);
  expect(isNoGroupError(new Error('NOGROUP but not from Redis'))).toBe(false);
});

test('promoteDue moves only due retries into the stream, once', async () => {
  const v = vendor();
  await ensureGroup(server.redis, v);
  await enqueue(server.redis, v, 'a');
  await enqueue(server.redis, v, 'b');
  const [a, b] = (await readNew(server.redis, v, 'c1', 10, 10)).entries;
  await scheduleRetry(server.redis, v, a!, 1000);
  await scheduleRetry(server.redis, v, b!, 5000);
  expect((await server.redis.xpending(keys.stream(v), keys.group))[0]).toBe(0); // both acked
  expect(await promoteDue(server.redis, v, 999)).toBe(0);
  const [first, second] = await Promise.all([promoteDue(server.redis, v, 1000), promoteDue(server.redis, v, 1000)]);
  expect(first + second).toBe(1);
  expect((await readNew(server.redis, v, 'c1', 10, 10)).entries.map((e) => e.requestId)).toEqual(['a']);
  expect(await server.redis.zrange(keys.delayed(v), '0', '-1')).toEqual(['b']);
});

test('reclaimIdle takes over idle entries of another consumer; requeue hands one back', async () => {
  const v = vendor();
  await ensureGroup(server.redis, v);
  await enqueue(server.redis, v, 'x');
  await enqueue(server.redis, v, 'y');
  await readNew(server.redis, v, 'dead', 10, 10);
  expect((await reclaimIdle(server.redis, v, 'alive', 60_000, 10)).entries).toEqual([]);
  await new Promise((r) => setTimeout(r, 30));
  const r = await reclaimIdle(server.redis, v, 'alive', 20, 10);
  expect(r.entries.map((e) => e.requestId)).toEqual(['x', 'y']);
  await requeue(server.redis, v, r.entries[0]!);
  await ack(server.redis, v, r.entries[1]!.entryId);
  expect((await server.redis.xpending(keys.stream(v), keys.group))[0]).toBe(0);
  expect((await readNew(server.redis, v, 'alive', 10, 10)).entries.map((e) => e.requestId)).toEqual(['x']);
});

test('deadLetter records the job and acks its entry atomically', async () => {
  const v = vendor();
  await ensureGroup(server.redis, v);
  await enqueue(server.redis, v, 'z');
  const [e] = (await readNew(server.redis, v, 'c', 1, 10)).entries;
  await deadLetter(server.redis, v, { requestId: 'z', error: 'vendor_error: HTTP 500', attempts: 5 }, e!.entryId);
  expect((await server.redis.xrange(keys.deadLetter(v), '-', '+')).map(([, f]) => f)).toEqual([['id', 'z', 'error', 'vendor_error: HTTP 500', 'attempts', '5']]);
  expect((await server.redis.xpending(keys.stream(v), keys.group))[0]).toBe(0);
});

test('streamBacklog reports lag and pending; trimAcknowledged keeps everything still needed', async () => {
  const v = vendor();
  expect(await streamBacklog(server.redis, v)).toEqual({ lag: 0, pending: 0 });
  await ensureGroup(server.redis, v);
  for (let i = 0; i < 150; i++) await enqueue(server.redis, v, `j${i}`);
  const got = (await readNew(server.redis, v, 'c', 120, 10)).entries;
  await ack(server.redis, v, ...got.slice(0, 110).map((e) => e.entryId)); // j110..j119 stay pending
  expect(await streamBacklog(server.redis, v)).toEqual({ lag: 30, pending: 10 });
  await trimAcknowledged(server.redis, v);
  const left = (await server.redis.xrange(keys.stream(v), '-', '+')).map(([, f]) => f[1]);
  // "~" trims whole macro nodes only: something may stay, but every needed entry does.
  expect(left.length).toBeLessThan(150);
  for (let i = 110; i < 150; i++) expect(left).toContain(`j${i}`);
  expect((await readNew(server.redis, v, 'c', 100, 10)).entries).toHaveLength(30);
});

test('createAckBatcher acks the entries of one turn with one XACK per vendor, and each caller learns when', async () => {
  const v = vendor();
  await ensureGroup(server.redis, v);
  for (const id of ['a', 'b', 'c']) await enqueue(server.redis, v, id);
  const r = await readNew(server.redis, v, 'c1', 10, 10);
  expect(r.entries).toHaveLength(3);
  const before = await server.redis.info('commandstats');
  const calls = (info: string) => Number(/cmdstat_xack:calls=(\d+)/.exec(info)?.[1] ?? 0);
  const ackLater = createAckBatcher(server.redis);
  await Promise.all(r.entries.map((e) => ackLater(v, e.entryId)));
  // Resolved only once Redis has them: nothing is pending any more.
  expect(await server.redis.xpending(keys.stream(v), keys.group)).toEqual([0, null, null, null]);
  expect(calls(await server.redis.info('commandstats')) - calls(before)).toBe(1);
});

test('createAckBatcher rejects every caller of a batch whose XACK fails', async () => {
  const v = vendor();
  await server.redis.set(keys.stream(v), 'not a stream'); // XACK on a string key: WRONGTYPE
  const ackLater = createAckBatcher(server.redis);
  const results = await Promise.allSettled([ackLater(v, '1-0'), ackLater(v, '2-0')]);
  expect(results.map((x) => x.status)).toEqual(['rejected', 'rejected']);
});

test('the dead-letter stream is capped (issue 10 item 5): only the newest entries are kept', async () => {
  const v = `v-${Math.random().toString(36).slice(2, 8)}`;
  for (let i = 0; i < 30; i++) await deadLetter(server.redis, v, { requestId: `r-${i}`, error: 'e', attempts: 1 }, undefined, 10);
  const entries = await server.redis.xrange(keys.deadLetter(v), '-', '+');
  expect(entries).toHaveLength(10);
  expect(entries.at(-1)![1][1]).toBe('r-29');
  expect(DEFAULT_DEAD_LETTER_MAX_LEN).toBeGreaterThanOrEqual(1000);
});

test('free-call counts expire when left behind (issue 10 item 5): the hash carries a TTL', async () => {
  const v = `v-${Math.random().toString(36).slice(2, 8)}`;
  await addFreeCall(server.redis, v, 'r-1');
  expect(await freeCalls(server.redis, v, 'r-1')).toBe(1);
  const ttl = await server.redis.ttl(keys.freeCalls(v));
  expect(ttl).toBeGreaterThan(3600);
});

test('a dead consumer is forgotten only once nothing of it is pending (DELCONSUMER would drop its entries)', async () => {
  const v = vendor();
  await ensureGroup(server.redis, v);
  await enqueue(server.redis, v, 'held');
  const [held] = (await readNew(server.redis, v, 'dead-1', 10, 10)).entries;
  // Still pending (e.g. touched too recently to be claimed): the consumer and its entry stay.
  expect(await forgetDeadConsumer(server.redis, v, 'dead-1')).toBe(false);
  const pending = (await server.redis.call('XPENDING', keys.stream(v), keys.group, '-', '+', 10, 'dead-1')) as unknown[][];
  expect(pending.map((p) => p[0])).toEqual([held!.entryId]);
  // Once its entry is acknowledged (taken over and finished elsewhere), it goes.
  await ack(server.redis, v, held!.entryId);
  expect(await forgetDeadConsumer(server.redis, v, 'dead-1')).toBe(true);
  const consumers = (await server.redis.call('XINFO', 'CONSUMERS', keys.stream(v), keys.group)) as unknown[];
  expect(consumers).toHaveLength(0);
});
