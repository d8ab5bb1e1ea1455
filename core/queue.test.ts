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
  forgetJob,
  forgetDeadConsumer,
  isNoGroupError,
  promoteDue,
  readNew,
  reclaimIdle,
  requeue,
  scheduleRetry,
  streamBacklog,
  trimAcknowledged,
  waitForNew,
} from './queue.js';

const server = useRedisServer();
let n = 0;
const vendor = () => `q${++n}`;

test('ensureGroup is idempotent and delivers entries queued before the group existed', async () => {
  const v = vendor();
  await enqueue(server.redis, v, 'early', 'normal');
  await ensureGroup(server.redis, v);
  await ensureGroup(server.redis, v);
  const r = await readNew(server.redis, v, 'normal', 'c1', 10);
  expect(r.entries.map((e) => e.requestId)).toEqual(['early']);
});

test('enqueueMany queues every id in one pipeline, in order; a failing stream fails each of its entries', async () => {
  const v = vendor();
  const ids = Array.from({ length: 300 }, (_, i) => `job-${i}`);
  const out = await enqueueMany(server.redis, v, ids.map((requestId) => ({ requestId, lane: 'normal' as const })));
  expect(out.every((e) => typeof e === 'string')).toBe(true);
  await ensureGroup(server.redis, v);
  const r = await readNew(server.redis, v, 'normal', 'c1', 1000);
  expect(r.entries.map((e) => e.requestId)).toEqual(ids);
  expect(await enqueueMany(server.redis, v, [])).toEqual([]);

  const broken = vendor();
  await server.redis.set(keys.stream(broken, 'low'), 'not a stream'); // every XADD into that lane gets WRONGTYPE
  const failed = await enqueueMany(server.redis, broken, [
    { requestId: 'a', lane: 'low' },
    { requestId: 'b', lane: 'high' },
    { requestId: 'c', lane: 'low' },
  ]);
  expect(failed).toHaveLength(3);
  expect(failed[0]).toBeInstanceOf(Error);
  expect(typeof failed[1]).toBe('string');
  expect(failed[2]).toBeInstanceOf(Error);
});

test('enqueueMany puts each job into its own lane\'s stream, in order within a lane', async () => {
  const v = vendor();
  const jobs = [
    { requestId: 'h1', lane: 'high' as const },
    { requestId: 'l1', lane: 'low' as const },
    { requestId: 'n1', lane: 'normal' as const },
    { requestId: 'h2', lane: 'high' as const },
  ];
  const out = await enqueueMany(server.redis, v, jobs);
  expect(out.every((e) => typeof e === 'string')).toBe(true);
  await ensureGroup(server.redis, v);
  const lane = async (l: 'high' | 'normal' | 'low') => (await readNew(server.redis, v, l, 'c1', 10)).entries.map((e) => [e.requestId, e.lane]);
  expect(await lane('high')).toEqual([['h1', 'high'], ['h2', 'high']]);
  expect(await lane('normal')).toEqual([['n1', 'normal']]);
  expect(await lane('low')).toEqual([['l1', 'low']]);
});

test('a missing group is reported as NOGROUP', async () => {
  const v = vendor();
  const err = await readNew(server.redis, v, 'normal', 'c1', 1).catch((e: unknown) => e);
  expect(isNoGroupError(err)).toBe(true);
  expect(isNoGroupError(new Error('NOGROUP but not from Redis'))).toBe(false);
});

test('promoteDue moves only due retries into the stream, once', async () => {
  const v = vendor();
  await ensureGroup(server.redis, v);
  await enqueue(server.redis, v, 'a', 'normal');
  await enqueue(server.redis, v, 'b', 'normal');
  const [a, b] = (await readNew(server.redis, v, 'normal', 'c1', 10)).entries;
  await scheduleRetry(server.redis, v, a!, 1000);
  await scheduleRetry(server.redis, v, b!, 5000);
  expect((await server.redis.xpending(keys.stream(v, 'normal'), keys.group))[0]).toBe(0); // both acked
  expect(await promoteDue(server.redis, v, 999)).toBe(0);
  const [first, second] = await Promise.all([promoteDue(server.redis, v, 1000), promoteDue(server.redis, v, 1000)]);
  expect(first + second).toBe(1);
  expect((await readNew(server.redis, v, 'normal', 'c1', 10)).entries.map((e) => e.requestId)).toEqual(['a']);
  expect(await server.redis.zrange(keys.delayed(v, 'normal'), '0', '-1')).toEqual(['b']);
});

test('reclaimIdle takes over idle entries of another consumer; requeue hands one back', async () => {
  const v = vendor();
  await ensureGroup(server.redis, v);
  await enqueue(server.redis, v, 'x', 'normal');
  await enqueue(server.redis, v, 'y', 'normal');
  await readNew(server.redis, v, 'normal', 'dead', 10);
  expect((await reclaimIdle(server.redis, v, 'normal', 'alive', 60_000, 10)).entries).toEqual([]);
  await new Promise((r) => setTimeout(r, 30));
  const r = await reclaimIdle(server.redis, v, 'normal', 'alive', 20, 10);
  expect(r.entries.map((e) => e.requestId)).toEqual(['x', 'y']);
  await requeue(server.redis, v, r.entries[0]!);
  await ack(server.redis, v, 'normal', r.entries[1]!.entryId);
  expect((await server.redis.xpending(keys.stream(v, 'normal'), keys.group))[0]).toBe(0);
  expect((await readNew(server.redis, v, 'normal', 'alive', 10)).entries.map((e) => e.requestId)).toEqual(['x']);
});

test('deadLetter records the job and acks its entry atomically', async () => {
  const v = vendor();
  await ensureGroup(server.redis, v);
  await enqueue(server.redis, v, 'z', 'normal');
  const [e] = (await readNew(server.redis, v, 'normal', 'c', 1)).entries;
  await deadLetter(server.redis, v, { requestId: 'z', error: 'vendor_error: HTTP 500', attempts: 5 }, e!);
  expect((await server.redis.xrange(keys.deadLetter(v), '-', '+')).map(([, f]) => f)).toEqual([['id', 'z', 'error', 'vendor_error: HTTP 500', 'attempts', '5']]);
  expect((await server.redis.xpending(keys.stream(v, 'normal'), keys.group))[0]).toBe(0);
});

test('streamBacklog reports lag and pending; trimAcknowledged keeps everything still needed', async () => {
  const v = vendor();
  expect(await streamBacklog(server.redis, v)).toEqual({ lag: 0, pending: 0 });
  await ensureGroup(server.redis, v);
  for (let i = 0; i < 150; i++) await enqueue(server.redis, v, `j${i}`, 'normal');
  const got = (await readNew(server.redis, v, 'normal', 'c', 120)).entries;
  await ack(server.redis, v, 'normal', ...got.slice(0, 110).map((e) => e.entryId)); // j110..j119 stay pending
  expect(await streamBacklog(server.redis, v)).toEqual({ lag: 30, pending: 10 });
  await trimAcknowledged(server.redis, v);
  const left = (await server.redis.xrange(keys.stream(v, 'normal'), '-', '+')).map(([, f]) => f[1]);
  // "~" trims whole macro nodes only: something may stay, but every needed entry does.
  expect(left.length).toBeLessThan(150);
  for (let i = 110; i < 150; i++) expect(left).toContain(`j${i}`);
  expect((await readNew(server.redis, v, 'normal', 'c', 100)).entries).toHaveLength(30);
});

test('createAckBatcher acks the entries of one turn with one XACK per vendor, and each caller learns when', async () => {
  const v = vendor();
  await ensureGroup(server.redis, v);
  for (const id of ['a', 'b', 'c']) await enqueue(server.redis, v, id, 'normal');
  const r = await readNew(server.redis, v, 'normal', 'c1', 10);
  expect(r.entries).toHaveLength(3);
  const before = await server.redis.info('commandstats');
  const calls = (info: string) => Number(/cmdstat_xack:calls=(\d+)/.exec(info)?.[1] ?? 0);
  const ackLater = createAckBatcher(server.redis);
  await Promise.all(r.entries.map((e) => ackLater(v, e)));
  // Resolved only once Redis has them: nothing is pending any more.
  expect(await server.redis.xpending(keys.stream(v, 'normal'), keys.group)).toEqual([0, null, null, null]);
  expect(calls(await server.redis.info('commandstats')) - calls(before)).toBe(1);
});

test('createAckBatcher rejects every caller of a batch whose XACK fails', async () => {
  const v = vendor();
  await server.redis.set(keys.stream(v, 'normal'), 'not a stream'); // XACK on a string key: WRONGTYPE
  const ackLater = createAckBatcher(server.redis);
  const results = await Promise.allSettled([ackLater(v, { entryId: '1-0', requestId: 'x', lane: 'normal' }), ackLater(v, { entryId: '2-0', requestId: 'x', lane: 'normal' })]);
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
  await enqueue(server.redis, v, 'held', 'normal');
  const [held] = (await readNew(server.redis, v, 'normal', 'dead-1', 10)).entries;
  // Still pending (e.g. touched too recently to be claimed): the consumer and its entry stay.
  expect(await forgetDeadConsumer(server.redis, v, 'normal', 'dead-1')).toBe(false);
  const pending = (await server.redis.call('XPENDING', keys.stream(v, 'normal'), keys.group, '-', '+', 10, 'dead-1')) as unknown[][];
  expect(pending.map((p) => p[0])).toEqual([held!.entryId]);
  // Once its entry is acknowledged (taken over and finished elsewhere), it goes.
  await ack(server.redis, v, 'normal', held!.entryId);
  expect(await forgetDeadConsumer(server.redis, v, 'normal', 'dead-1')).toBe(true);
  const consumers = (await server.redis.call('XINFO', 'CONSUMERS', keys.stream(v, 'normal'), keys.group)) as unknown[];
  expect(consumers).toHaveLength(0);
});

describe('priority lanes: one stream per lane, and a job never leaves its own', () => {
  test('each lane is its own stream (normal keeps the one-lane name); readNew reads one lane', async () => {
    const v = vendor();
    await ensureGroup(server.redis, v);
    await enqueue(server.redis, v, 'h', 'high');
    await enqueue(server.redis, v, 'n', 'normal');
    await enqueue(server.redis, v, 'l', 'low');
    expect(keys.stream(v, 'normal')).toBe(`vf:{${v}}:jobs`);
    expect(await Promise.all((['high', 'normal', 'low'] as const).map((l) => server.redis.xlen(keys.stream(v, l))))).toEqual([1, 1, 1]);
    const low = await readNew(server.redis, v, 'low', 'c', 10);
    expect(low.entries.map((e) => [e.requestId, e.lane])).toEqual([['l', 'low']]);
    expect(await streamBacklog(server.redis, v)).toEqual({ lag: 2, pending: 1 });
  });

  test('a retry is promoted into the lane it came from; forgetJob clears it from any lane', async () => {
    const v = vendor();
    await ensureGroup(server.redis, v);
    await enqueue(server.redis, v, 'h', 'high');
    await enqueue(server.redis, v, 'l', 'low');
    const [h] = (await readNew(server.redis, v, 'high', 'c', 1)).entries;
    const [l] = (await readNew(server.redis, v, 'low', 'c', 1)).entries;
    await scheduleRetry(server.redis, v, h!, 1000);
    await scheduleRetry(server.redis, v, l!, 1000);
    expect(await server.redis.zrange(keys.delayed(v, 'high'), '0', '-1')).toEqual(['h']);
    expect(await promoteDue(server.redis, v, 1000)).toBe(2);
    expect((await readNew(server.redis, v, 'high', 'c', 10)).entries.map((e) => e.requestId)).toEqual(['h']);
    expect((await readNew(server.redis, v, 'low', 'c', 10)).entries.map((e) => e.requestId)).toEqual(['l']);
    expect((await readNew(server.redis, v, 'normal', 'c', 10)).entries).toEqual([]);
    await scheduleRetry(server.redis, v, { ...h!, entryId: '0-1' }, 5000);
    await forgetJob(server.redis, v, 'h');
    expect(await server.redis.zcard(keys.delayed(v, 'high'))).toBe(0);
  });

  test('a hand-back (requeue) and an ack stay in the entry\'s lane', async () => {
    const v = vendor();
    await ensureGroup(server.redis, v);
    await enqueue(server.redis, v, 'h', 'high');
    const [h] = (await readNew(server.redis, v, 'high', 'c', 1)).entries;
    await requeue(server.redis, v, h!);
    expect((await server.redis.xpending(keys.stream(v, 'high'), keys.group))[0]).toBe(0);
    expect((await readNew(server.redis, v, 'high', 'c', 10)).entries.map((e) => e.requestId)).toEqual(['h']);
    expect(await server.redis.xlen(keys.stream(v, 'normal'))).toBe(0);
  });

  test('waitForNew: at once when any lane has an undelivered entry, when one arrives during the wait, else after blockMs; it consumes nothing', async () => {
    const v = vendor();
    await ensureGroup(server.redis, v);
    const blocking = server.redis.duplicate();
    try {
      let t = Date.now();
      expect(await waitForNew(blocking, v, 300)).toBe(false);
      expect(Date.now() - t).toBeGreaterThanOrEqual(250);
      await enqueue(server.redis, v, 'l', 'low');
      t = Date.now();
      expect(await waitForNew(blocking, v, 2000)).toBe(true);
      expect(Date.now() - t).toBeLessThan(500);
      expect((await readNew(server.redis, v, 'low', 'c', 10)).entries.map((e) => e.requestId)).toEqual(['l']); // still there
      t = Date.now();
      const waiting = waitForNew(blocking, v, 3000);
      setTimeout(() => void enqueue(server.redis, v, 'h', 'high'), 200);
      expect(await waiting).toBe(true);
      expect(Date.now() - t).toBeLessThan(1500);
    } finally {
      blocking.disconnect();
    }
  });
});
