// The JobStore contract, as one jest suite that every adapter's test file runs against a real
// database. Each test gets a fresh, empty store from `makeStore` (so sweeper and count queries
// see only that test's jobs) and closes it afterwards.

import { randomUUID } from 'node:crypto';

import type { Job, JobStore, NewJob } from '../job.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
/** A fixed clock: `at(s)` is s seconds after T0, so tests never depend on the wall clock. */
const at = (seconds: number): Date => new Date(T0 + seconds * 1000);

const NESTED_PAYLOAD = {
  name: '  Zoë Ünïcødé — 東京 🚀  ',
  nested: { list: [1, 2.5, -3, { deep: [true, false, null] }], empty: {}, emptyList: [] },
  // Keys that MongoDB-wire servers reject as field names: adapters must store them as-is.
  'dotted.key': 'x',
  $dollar: { $in: ['a'] },
  quote: 'it\'s "quoted" \\ back\nslash',
  big: 9007199254740991,
};

function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return { request_id: randomUUID(), vendor: 'acme', payload: { q: 1 }, deadline_at: at(60), ...overrides };
}

export interface ContractOptions {
  /**
   * Set to a reason to skip the tests where many callers write ONE job at the same moment,
   * for a server known not to apply single-document updates atomically. Printed, never silent.
   */
  sameJobRacesSkipReason?: string | undefined;
}

export function describeJobStoreContract(
  name: string,
  makeStore: () => Promise<JobStore>,
  opts: ContractOptions = {},
): void {
  const skipReason = opts.sameJobRacesSkipReason;
  if (skipReason) console.warn(`JobStore contract ${name}: same-job race tests skipped: ${skipReason}`);
  /** A test where concurrent callers race on one job: skipped, with the reason in its name, when asked. */
  const raceTest = (title: string, fn: () => Promise<void>): void => {
    if (skipReason) test.skip(`${title} — skipped: ${skipReason}`, fn);
    else test(title, fn);
  };

  describe(`JobStore contract: ${name}`, () => {
    let store: JobStore;

    beforeEach(async () => {
      store = await makeStore();
    });

    afterEach(async () => {
      await store.close();
    });

    /** A job already moved to processing by one startAttempt at t=1s. */
    async function processingJob(overrides: Partial<NewJob> = {}): Promise<Job> {
      const { job } = await store.create(newJob(overrides), at(0));
      const started = await store.startAttempt(job.request_id, at(31), at(1));
      if (!started) throw new Error('startAttempt on a fresh job returned null');
      return started;
    }

    test('ping resolves', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    describe('create and get', () => {
      test('round-trips a pending job with nested unicode payload and awkward keys', async () => {
        const input = newJob({ payload: NESTED_PAYLOAD, deadline_at: at(30) });
        const { job, created } = await store.create(input, at(0));
        expect(created).toBe(true);
        const expected: Job = {
          request_id: input.request_id,
          vendor: 'acme',
          payload: NESTED_PAYLOAD,
          priority: 'normal',
          status: 'pending',
          attempts: 0,
          created_at: at(0),
          updated_at: at(0),
          deadline_at: at(30),
        };
        expect(job).toEqual(expected);
        const read = await store.get(input.request_id);
        expect(read).toEqual(expected);
        // Optional fields are absent, not null.
        expect(read).not.toHaveProperty('result');
        expect(read).not.toHaveProperty('error');
        expect(read).not.toHaveProperty('completed_at');
        expect(read).not.toHaveProperty('idempotency_key');
        expect(read?.created_at).toBeInstanceOf(Date);
      });

      test('non-object payloads round-trip too', async () => {
        for (const payload of ['text', 42, [1, 'two'], null]) {
          const { job } = await store.create(newJob({ payload }), at(0));
          expect((await store.get(job.request_id))?.payload).toEqual(payload);
        }
      });

      test('a payload or result JSON cannot encode is refused as invalid data, never as an outage', async () => {
        // Issue 10 item 6: a stack overflow in JSON.stringify was reported as "job store is
        // unavailable" (retryable). It is the caller's data, not the store.
        let deep: unknown = 1;
        for (let i = 0; i < 20_000; i++) deep = { a: deep };
        const notAnOutage = { code: 'unserializable', retryable: false };
        await expect(store.create(newJob({ payload: deep }), at(0))).rejects.toMatchObject(notAnOutage);
        const job = await processingJob();
        await expect(store.complete(job.request_id, { x: 10n }, at(2))).rejects.toMatchObject(notAnOutage);
        expect((await store.get(job.request_id))?.status).toBe('processing');
      });

      test('the priority is stored and read back (default normal), and survives every transition', async () => {
        for (const priority of ['high', 'normal', 'low'] as const) {
          const { job } = await store.create(newJob({ priority }), at(0));
          expect(job.priority).toBe(priority);
          expect((await store.get(job.request_id))?.priority).toBe(priority);
        }
        const { job: plain } = await store.create(newJob(), at(0));
        expect((await store.get(plain.request_id))?.priority).toBe('normal');
        const low = await processingJob({ priority: 'low' });
        expect(low.priority).toBe('low');
        expect(await store.releaseForRetry(low.request_id, 'vendor_error', at(40), at(2), low.attempts)).toBe(true);
        expect((await store.get(low.request_id))?.priority).toBe('low');
      });

      test('get of an unknown id is null', async () => {
        expect(await store.get(randomUUID())).toBeNull();
      });

      test('a second job with the same request_id is a conflict', async () => {
        const input = newJob();
        await store.create(input, at(0));
        await expect(store.create({ ...input, payload: { other: true } }, at(1))).rejects.toMatchObject({
          code: 'conflict',
        });
        expect((await store.get(input.request_id))?.payload).toEqual(input.payload);
      });
    });

    describe('idempotency', () => {
      test('the same key returns the first job, created=false, and inserts nothing', async () => {
        const first = newJob({ idempotency_key: 'key-1', payload: { n: 1 } });
        const a = await store.create(first, at(0));
        expect(a.created).toBe(true);
        expect(a.job.idempotency_key).toBe('key-1');

        const second = newJob({ idempotency_key: 'key-1', payload: { n: 2 } });
        const b = await store.create(second, at(5));
        expect(b.created).toBe(false);
        expect(b.job.request_id).toBe(first.request_id);
        expect(b.job.payload).toEqual({ n: 1 });
        expect(b.job.created_at).toEqual(at(0));
        expect(await store.get(second.request_id)).toBeNull();
        expect(await store.countByStatus('acme')).toEqual({ pending: 1, processing: 0, complete: 0, failed: 0, cancelled: 0 });
      });

      test('the replay returns the job as it is now', async () => {
        const first = newJob({ idempotency_key: 'key-now' });
        await store.create(first, at(0));
        await store.startAttempt(first.request_id, at(40), at(2));
        const replay = await store.create(newJob({ idempotency_key: 'key-now' }), at(3));
        expect(replay).toMatchObject({ created: false, job: { status: 'processing', attempts: 1 } });
      });

      test('different keys and key-less jobs never collide', async () => {
        const results = await Promise.all([
          store.create(newJob({ idempotency_key: 'a' }), at(0)),
          store.create(newJob({ idempotency_key: 'b' }), at(0)),
          store.create(newJob(), at(0)),
          store.create(newJob(), at(0)),
        ]);
        expect(results.map((r) => r.created)).toEqual([true, true, true, true]);
        expect((await store.countByStatus('acme')).pending).toBe(4);
      });

      test('a key equal to another job\'s request_id is just a key', async () => {
        const plain = newJob();
        await store.create(plain, at(0));
        const keyed = await store.create(newJob({ idempotency_key: plain.request_id }), at(1));
        expect(keyed.created).toBe(true);
        expect(keyed.job.request_id).not.toBe(plain.request_id);
      });

      test('concurrent creates with one key: exactly one is created, all see its id', async () => {
        const inputs = Array.from({ length: 10 }, () => newJob({ idempotency_key: 'race' }));
        const results = await Promise.all(inputs.map((j) => store.create(j, at(0))));
        expect(results.filter((r) => r.created)).toHaveLength(1);
        const winner = results.find((r) => r.created)!.job.request_id;
        expect(new Set(results.map((r) => r.job.request_id))).toEqual(new Set([winner]));
        expect((await store.countByStatus('acme')).pending).toBe(1);
      });

      test('after delete the key is free again', async () => {
        const first = newJob({ idempotency_key: 'undo' });
        await store.create(first, at(0));
        expect(await store.delete(first.request_id)).toBe(true);
        const again = await store.create(newJob({ idempotency_key: 'undo' }), at(1));
        expect(again.created).toBe(true);
        expect(again.job.request_id).not.toBe(first.request_id);
      });
    });

    describe('startAttempt', () => {
      test('pending → processing with attempts + 1 and the new deadline; again while processing', async () => {
        const { job } = await store.create(newJob(), at(0));
        const first = await store.startAttempt(job.request_id, at(31), at(1));
        expect(first).toMatchObject({ status: 'processing', attempts: 1, deadline_at: at(31), updated_at: at(1) });
        expect(first?.created_at).toEqual(at(0));
        // A redelivered entry (worker died) starts another attempt on a processing job.
        const second = await store.startAttempt(job.request_id, at(62), at(2));
        expect(second).toMatchObject({ status: 'processing', attempts: 2, deadline_at: at(62) });
        expect(await store.get(job.request_id)).toEqual(second);
      });

      test('null for a missing, complete or failed job, which stays unchanged', async () => {
        expect(await store.startAttempt(randomUUID(), at(31), at(1))).toBeNull();

        const done = await processingJob();
        await store.complete(done.request_id, { ok: true }, at(2));
        expect(await store.startAttempt(done.request_id, at(99), at(3))).toBeNull();
        expect(await store.get(done.request_id)).toMatchObject({ status: 'complete', attempts: 1, result: { ok: true } });

        const { job: failed } = await store.create(newJob(), at(0));
        await store.fail(failed.request_id, 'bad_request', at(1));
        expect(await store.startAttempt(failed.request_id, at(99), at(3))).toBeNull();
        expect(await store.get(failed.request_id)).toMatchObject({ status: 'failed', attempts: 0 });
      });

      test('with the attempt count the caller read: a job started by someone else meanwhile is left alone (null)', async () => {
        // A duplicate entry must not bump `attempts` under the worker that is calling the vendor:
        // that would break the owner's fencing token and drop its answer.
        const { job } = await store.create(newJob(), at(0));
        const owner = await store.startAttempt(job.request_id, at(31), at(1), 0);
        expect(owner).toMatchObject({ attempts: 1 });
        expect(await store.startAttempt(job.request_id, at(40), at(2), 0)).toBeNull();
        expect(await store.get(job.request_id)).toEqual(owner);
        expect(await store.startAttempt(job.request_id, at(70), at(3), 1)).toMatchObject({ attempts: 2, deadline_at: at(70) });
      });

      raceTest('20 concurrent attempts are all counted', async () => {
        const { job } = await store.create(newJob(), at(0));
        const started = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.startAttempt(job.request_id, at(100 + i), at(1))),
        );
        expect(started.every((j) => j?.status === 'processing')).toBe(true);
        expect(new Set(started.map((j) => j?.attempts))).toEqual(new Set(Array.from({ length: 20 }, (_, i) => i + 1)));
        expect((await store.get(job.request_id))?.attempts).toBe(20);
      });
    });

    describe('complete', () => {
      test('processing → complete once; a second complete changes nothing', async () => {
        const job = await processingJob();
        expect(await store.complete(job.request_id, { answer: [1, { x: 'ü' }] }, at(5))).toBe(true);
        const done = await store.get(job.request_id);
        expect(done).toMatchObject({
          status: 'complete',
          attempts: 1,
          result: { answer: [1, { x: 'ü' }] },
          completed_at: at(5),
          updated_at: at(5),
        });
        expect(await store.complete(job.request_id, { answer: 'late duplicate' }, at(6))).toBe(false);
        expect(await store.get(job.request_id)).toEqual(done);
      });

      test('a pending, failed or missing job cannot be completed', async () => {
        const { job } = await store.create(newJob(), at(0));
        expect(await store.complete(job.request_id, { x: 1 }, at(1))).toBe(false);
        expect(await store.get(job.request_id)).toMatchObject({ status: 'pending' });
        expect(await store.get(job.request_id)).not.toHaveProperty('result');

        const failed = await processingJob();
        await store.fail(failed.request_id, 'boom', at(2));
        expect(await store.complete(failed.request_id, { x: 1 }, at(3))).toBe(false);
        expect(await store.get(failed.request_id)).toMatchObject({ status: 'failed', error: 'boom' });

        expect(await store.complete(randomUUID(), { x: 1 }, at(1))).toBe(false);
      });

      test('null and primitive results round-trip; an earlier attempt\'s error is cleared', async () => {
        const job = await processingJob();
        await store.releaseForRetry(job.request_id, 'vendor_5xx: 503', at(40), at(2));
        await store.startAttempt(job.request_id, at(70), at(41));
        expect(await store.complete(job.request_id, null, at(42))).toBe(true);
        const done = await store.get(job.request_id);
        expect(done?.result).toBeNull();
        expect(done).toHaveProperty('result', null);
        expect(done).not.toHaveProperty('error');

        const other = await processingJob();
        await store.complete(other.request_id, 'plain text', at(2));
        expect((await store.get(other.request_id))?.result).toBe('plain text');
      });

      raceTest('20 concurrent completes race: exactly one wins and its result is stored', async () => {
        const job = await processingJob();
        const wins = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.complete(job.request_id, { winner: i }, at(10 + i))),
        );
        expect(wins.filter(Boolean)).toHaveLength(1);
        const winner = wins.indexOf(true);
        expect(await store.get(job.request_id)).toMatchObject({
          status: 'complete',
          result: { winner },
          completed_at: at(10 + winner),
        });
      });
    });

    describe('completeByCallback (an async vendor\'s signed answer)', () => {
      test('completes a processing job, and a pending one that was called before (its retry was scheduled)', async () => {
        const processing = await processingJob();
        expect(await store.completeByCallback(processing.request_id, { a: 1 }, at(5))).toBe(true);
        expect(await store.get(processing.request_id)).toMatchObject({ status: 'complete', result: { a: 1 }, completed_at: at(5) });

        const retrying = await processingJob();
        await store.releaseForRetry(retrying.request_id, 'vendor_timeout', at(60), at(2));
        expect(await store.completeByCallback(retrying.request_id, { b: 2 }, at(6))).toBe(true);
        const done = await store.get(retrying.request_id);
        expect(done).toMatchObject({ status: 'complete', result: { b: 2 }, attempts: 1 });
        expect(done).not.toHaveProperty('error');
        expect(await store.completeByCallback(retrying.request_id, { again: true }, at(7))).toBe(false);
      });

      test('never a job that was not sent to the vendor yet, nor a finished one', async () => {
        const { job } = await store.create(newJob(), at(0));
        expect(await store.completeByCallback(job.request_id, { x: 1 }, at(1))).toBe(false);
        expect(await store.get(job.request_id)).toMatchObject({ status: 'pending' });
        const failed = await processingJob();
        await store.fail(failed.request_id, 'boom', at(2));
        expect(await store.completeByCallback(failed.request_id, { x: 1 }, at(3))).toBe(false);
        expect(await store.completeByCallback(randomUUID(), { x: 1 }, at(3))).toBe(false);
      });
    });

    describe('attempt fencing (a stale worker can never write)', () => {
      /** A job started twice: the first worker's attempt (1) is stale, the second (2) current. */
      async function takenOver(): Promise<Job> {
        const first = await processingJob();
        const second = await store.startAttempt(first.request_id, at(90), at(50));
        if (second?.attempts !== 2) throw new Error('second startAttempt did not count');
        return second;
      }

      test('complete, releaseForRetry, fail and setDeadline with an old attempt change nothing', async () => {
        const job = await takenOver();
        const before = await store.get(job.request_id);
        expect(await store.complete(job.request_id, { stale: true }, at(60), 1)).toBe(false);
        expect(await store.releaseForRetry(job.request_id, 'stale', at(99), at(60), 1)).toBe(false);
        expect(await store.fail(job.request_id, 'stale', at(60), 1)).toBe(false);
        expect(await store.setDeadline(job.request_id, 'processing', at(999), at(60), 1)).toBe(false);
        expect(await store.get(job.request_id)).toEqual(before);
      });

      test('the current attempt writes as before', async () => {
        const job = await takenOver();
        expect(await store.setDeadline(job.request_id, 'processing', at(120), at(60), 2)).toBe(true);
        expect(await store.complete(job.request_id, { ok: true }, at(61), 2)).toBe(true);
        const other = await takenOver();
        expect(await store.releaseForRetry(other.request_id, 'e', at(99), at(60), 2)).toBe(true);
        const third = await takenOver();
        expect(await store.fail(third.request_id, 'e', at(60), 2)).toBe(true);
      });
    });

    describe('fail', () => {
      test('pending → failed and processing → failed, once each', async () => {
        const { job: pending } = await store.create(newJob(), at(0));
        expect(await store.fail(pending.request_id, 'unknown_vendor', at(1))).toBe(true);
        expect(await store.get(pending.request_id)).toMatchObject({
          status: 'failed',
          error: 'unknown_vendor',
          completed_at: at(1),
          updated_at: at(1),
        });
        expect(await store.fail(pending.request_id, 'again', at(2))).toBe(false);
        expect((await store.get(pending.request_id))?.error).toBe('unknown_vendor');

        const processing = await processingJob();
        expect(await store.fail(processing.request_id, 'callback_timeout', at(9))).toBe(true);
        expect(await store.get(processing.request_id)).toMatchObject({ status: 'failed', attempts: 1 });
      });

      test('fail after complete does nothing', async () => {
        const job = await processingJob();
        await store.complete(job.request_id, { ok: 1 }, at(2));
        const before = await store.get(job.request_id);
        expect(await store.fail(job.request_id, 'timeout', at(3))).toBe(false);
        expect(await store.get(job.request_id)).toEqual(before);
        expect(await store.fail(randomUUID(), 'x', at(3))).toBe(false);
      });
    });

    describe('cancel (a client\'s cancel: terminal status cancelled)', () => {
      test('pending → cancelled and processing → cancelled, once each, with completed_at', async () => {
        const { job: pending } = await store.create(newJob(), at(0));
        expect(await store.cancel(pending.request_id, at(3))).toBe(true);
        expect(await store.get(pending.request_id)).toMatchObject({ status: 'cancelled', attempts: 0, completed_at: at(3), updated_at: at(3) });
        expect(await store.cancel(pending.request_id, at(4))).toBe(false);
        expect((await store.get(pending.request_id))?.completed_at).toEqual(at(3));

        const processing = await processingJob();
        expect(await store.cancel(processing.request_id, at(5))).toBe(true);
        expect(await store.get(processing.request_id)).toMatchObject({ status: 'cancelled', attempts: 1 });
        expect(await store.cancel(randomUUID(), at(5))).toBe(false);
      });

      test('a finished job cannot be cancelled, and stays as it was', async () => {
        const done = await processingJob();
        await store.complete(done.request_id, { ok: 1 }, at(2));
        const failed = await processingJob();
        await store.fail(failed.request_id, 'boom', at(2));
        for (const id of [done.request_id, failed.request_id]) {
          const before = await store.get(id);
          expect(await store.cancel(id, at(9))).toBe(false);
          expect(await store.get(id)).toEqual(before);
        }
      });

      test('a cancelled job is finished for every other write: no start, complete, retry, fail, callback or deadline', async () => {
        // The worker whose call is in flight holds attempt 1: each of its fenced writes must miss.
        const job = await processingJob();
        await store.cancel(job.request_id, at(2));
        const cancelled = await store.get(job.request_id);
        expect(await store.startAttempt(job.request_id, at(99), at(3))).toBeNull();
        expect(await store.startAttempt(job.request_id, at(99), at(3), 1)).toBeNull();
        expect(await store.complete(job.request_id, { late: true }, at(3), 1)).toBe(false);
        expect(await store.complete(job.request_id, { late: true }, at(3))).toBe(false);
        expect(await store.releaseForRetry(job.request_id, 'e', at(99), at(3), 1)).toBe(false);
        expect(await store.fail(job.request_id, 'e', at(3), 1)).toBe(false);
        expect(await store.completeByCallback(job.request_id, { webhook: true }, at(3))).toBe(false);
        expect(await store.setDeadline(job.request_id, 'processing', at(99), at(3), 1)).toBe(false);
        expect(await store.setDeadline(job.request_id, 'cancelled', at(99), at(3))).toBe(false);
        expect(await store.replayFailed(job.request_id, 'acme', at(99), at(3))).toBe(false);
        expect(await store.get(job.request_id)).toEqual(cancelled);
        // Never overdue: the sweeper leaves it alone.
        expect((await store.findOverdue(at(10_000), 10)).map((j) => j.request_id)).not.toContain(job.request_id);
        expect(await store.countOverdueByVendor(at(10_000))).toEqual(new Map());
      });

      raceTest('cancel racing complete of the running attempt: exactly one wins', async () => {
        for (let i = 0; i < 10; i++) {
          const job = await processingJob();
          const [cancelled, completed] = await Promise.all([
            store.cancel(job.request_id, at(5)),
            store.complete(job.request_id, { i }, at(5), job.attempts),
          ]);
          expect([cancelled, completed].filter(Boolean)).toHaveLength(1);
          expect((await store.get(job.request_id))?.status).toBe(cancelled ? 'cancelled' : 'complete');
        }
      });
    });

    describe('dead letters: listFailed and replayFailed', () => {
      /** A job that failed after `calls` vendor calls. */
      async function failedJob(calls: number, overrides: Partial<NewJob> = {}): Promise<Job> {
        const { job } = await store.create(newJob(overrides), at(0));
        for (let n = 0; n < calls; n++) await store.startAttempt(job.request_id, at(30 + n), at(1 + n));
        if (!(await store.fail(job.request_id, `vendor_error: HTTP 50${calls}`, at(20)))) throw new Error('fail did not apply');
        return (await store.get(job.request_id))!;
      }

      test('lists one vendor\'s failed jobs in request_id order, metadata only, paged by cursor', async () => {
        const failed = [await failedJob(3), await failedJob(1), await failedJob(2)];
        await failedJob(1, { vendor: 'other' });
        await processingJob();
        const done = await processingJob();
        await store.complete(done.request_id, {}, at(2));
        const ids = failed.map((j) => j.request_id).sort();

        const all = await store.listFailed('acme', 10);
        expect(all.map((j) => j.request_id)).toEqual(ids);
        const first = all.find((j) => j.request_id === failed[0]!.request_id);
        expect(first).toMatchObject({ status: 'failed', attempts: 3, error: 'vendor_error: HTTP 503', completed_at: at(20) });
        expect(first).not.toHaveProperty('payload');

        const page1 = await store.listFailed('acme', 2);
        const page2 = await store.listFailed('acme', 2, page1[1]!.request_id);
        expect([...page1, ...page2].map((j) => j.request_id)).toEqual(ids);
        expect(await store.listFailed('acme', 2, ids[2])).toEqual([]);
        expect(await store.listFailed('nobody', 10)).toEqual([]);
      });

      test('replay: failed → pending with a fresh budget; attempts (the fence) never go down', async () => {
        const job = await failedJob(3);
        expect(await store.replayFailed(job.request_id, 'acme', at(700), at(50))).toBe(true);
        const replayed = await store.get(job.request_id);
        expect(replayed).toMatchObject({ status: 'pending', attempts: 3, replayed_attempts: 3, deadline_at: at(700), updated_at: at(50) });
        expect(replayed).not.toHaveProperty('completed_at');
        expect(await store.listFailed('acme', 10)).toEqual([]);
        // A stale worker of attempt 1 still cannot write; the next call is attempt 4.
        expect(await store.startAttempt(job.request_id, at(800), at(51), 3)).toMatchObject({ attempts: 4, replayed_attempts: 3 });
        expect(await store.complete(job.request_id, { stale: true }, at(52), 1)).toBe(false);
        expect(await store.complete(job.request_id, { ok: true }, at(52), 4)).toBe(true);
        expect((await store.findOverdue(at(10_000), 10)).map((j) => j.request_id)).not.toContain(job.request_id);
      });

      test('only a failed job of that vendor is replayed', async () => {
        const other = await failedJob(1, { vendor: 'other' });
        expect(await store.replayFailed(other.request_id, 'acme', at(700), at(50))).toBe(false);
        const { job: pending } = await store.create(newJob(), at(0));
        expect(await store.replayFailed(pending.request_id, 'acme', at(700), at(50))).toBe(false);
        const done = await processingJob();
        await store.complete(done.request_id, {}, at(2));
        expect(await store.replayFailed(done.request_id, 'acme', at(700), at(50))).toBe(false);
        expect(await store.replayFailed(randomUUID(), 'acme', at(700), at(50))).toBe(false);
        expect((await store.get(other.request_id))?.status).toBe('failed');
        expect((await store.get(done.request_id))?.status).toBe('complete');
      });

      raceTest('10 concurrent replays of one job: exactly one wins', async () => {
        const job = await failedJob(2);
        const wins = await Promise.all(Array.from({ length: 10 }, () => store.replayFailed(job.request_id, 'acme', at(700), at(50))));
        expect(wins.filter(Boolean)).toHaveLength(1);
        expect(await store.get(job.request_id)).toMatchObject({ status: 'pending', attempts: 2, replayed_attempts: 2 });
      });
    });

    describe('releaseForRetry', () => {
      test('processing → pending with the error and the new deadline; attempts kept', async () => {
        const job = await processingJob();
        expect(await store.releaseForRetry(job.request_id, 'timeout: 10s', at(45), at(5))).toBe(true);
        expect(await store.get(job.request_id)).toMatchObject({
          status: 'pending',
          attempts: 1,
          error: 'timeout: 10s',
          deadline_at: at(45),
          updated_at: at(5),
        });
        expect(await store.get(job.request_id)).not.toHaveProperty('completed_at');
      });

      test('only from processing', async () => {
        const { job: pending } = await store.create(newJob(), at(0));
        expect(await store.releaseForRetry(pending.request_id, 'x', at(45), at(5))).toBe(false);
        expect(await store.get(pending.request_id)).toEqual(pending);

        const done = await processingJob();
        await store.complete(done.request_id, 1, at(2));
        expect(await store.releaseForRetry(done.request_id, 'x', at(45), at(5))).toBe(false);
        expect((await store.get(done.request_id))?.status).toBe('complete');

        expect(await store.releaseForRetry(randomUUID(), 'x', at(45), at(5))).toBe(false);
      });
    });

    describe('setDeadline', () => {
      test('moves the deadline only when the status still matches', async () => {
        const { job } = await store.create(newJob({ deadline_at: at(10) }), at(0));
        expect(await store.setDeadline(job.request_id, 'processing', at(99), at(11))).toBe(false);
        expect((await store.get(job.request_id))?.deadline_at).toEqual(at(10));

        expect(await store.setDeadline(job.request_id, 'pending', at(70), at(11))).toBe(true);
        expect(await store.get(job.request_id)).toMatchObject({ status: 'pending', deadline_at: at(70), updated_at: at(11) });

        await store.startAttempt(job.request_id, at(100), at(12));
        expect(await store.setDeadline(job.request_id, 'pending', at(200), at(13))).toBe(false);
        expect(await store.setDeadline(job.request_id, 'processing', at(200), at(13))).toBe(true);
        expect((await store.get(job.request_id))?.deadline_at).toEqual(at(200));
      });

      test('never touches a finished job', async () => {
        const job = await processingJob();
        await store.complete(job.request_id, {}, at(2));
        const before = await store.get(job.request_id);
        expect(await store.setDeadline(job.request_id, 'complete', at(500), at(3))).toBe(false);
        expect(await store.get(job.request_id)).toEqual(before);
        expect(await store.setDeadline(randomUUID(), 'pending', at(500), at(3))).toBe(false);
      });
    });

    describe('findOverdue', () => {
      test('unfinished jobs past their deadline, oldest deadline first, up to the limit', async () => {
        const deadlines = [50, 10, 40, 20, 30, 100, 200];
        const ids: Record<number, string> = {};
        for (const d of deadlines) {
          const { job } = await store.create(newJob({ deadline_at: at(d) }), at(0));
          ids[d] = job.request_id;
        }
        // 40 is processing (still overdue), 30 complete and 20 failed (never overdue).
        await store.startAttempt(ids[40]!, at(40), at(1));
        await store.startAttempt(ids[30]!, at(30), at(1));
        await store.complete(ids[30]!, {}, at(2));
        await store.fail(ids[20]!, 'x', at(2));

        const now = at(100); // deadline 100 is not before now: not yet overdue
        const all = await store.findOverdue(now, 10);
        expect(all.map((j) => j.request_id)).toEqual([ids[10], ids[40], ids[50]]);
        expect(all[1]).toMatchObject({ status: 'processing', attempts: 1 });

        const firstTwo = await store.findOverdue(now, 2);
        expect(firstTwo.map((j) => j.request_id)).toEqual([ids[10], ids[40]]);
        expect(await store.findOverdue(at(5), 10)).toEqual([]);
      });
    });

    describe('findOverdue by vendor, without payloads (the sweeper)', () => {
      test('carries each job\'s priority: the sweeper re-queues it into its own lane', async () => {
        const high = await store.create(newJob({ vendor: 'lanes', priority: 'high', deadline_at: at(5) }), at(0));
        const low = await store.create(newJob({ vendor: 'lanes', priority: 'low', deadline_at: at(6) }), at(0));
        const found = await store.findOverdue(at(100), 10, 'lanes');
        expect(found.map((j) => [j.request_id, j.priority])).toEqual([
          [high.job.request_id, 'high'],
          [low.job.request_id, 'low'],
        ]);
      });

      test('only the named vendor\'s jobs, oldest first, ids and metadata only', async () => {
        const other = await store.create(newJob({ vendor: 'other', deadline_at: at(5) }), at(0));
        const a = await store.create(newJob({ vendor: 'acme', deadline_at: at(20), payload: { big: 'x'.repeat(1000) } }), at(0));
        const b = await store.create(newJob({ vendor: 'acme', deadline_at: at(10) }), at(0));
        const found = await store.findOverdue(at(100), 10, 'acme');
        expect(found.map((j) => j.request_id)).toEqual([b.job.request_id, a.job.request_id]);
        expect(found[0]).not.toHaveProperty('payload');
        expect(found[0]).toMatchObject({ vendor: 'acme', priority: 'normal', status: 'pending', attempts: 0, deadline_at: at(10) });
        expect((await store.findOverdue(at(100), 10)).map((j) => j.request_id)).toContain(other.job.request_id);
      });

      test('countOverdueByVendor counts unfinished overdue jobs per vendor', async () => {
        await store.create(newJob({ vendor: 'acme', deadline_at: at(5) }), at(0));
        await store.create(newJob({ vendor: 'acme', deadline_at: at(6) }), at(0));
        await store.create(newJob({ vendor: 'acme', deadline_at: at(500) }), at(0));
        await store.create(newJob({ vendor: 'gone', deadline_at: at(7) }), at(0));
        const done = await processingJob({ vendor: 'gone', deadline_at: at(1) });
        await store.complete(done.request_id, {}, at(2));
        expect(await store.countOverdueByVendor(at(100))).toEqual(new Map([['acme', 2], ['gone', 1]]));
      });
    });

    describe('deleteFinishedBefore', () => {
      test('deletes complete, failed and cancelled jobs finished before the cutoff, nothing else', async () => {
        const early = await processingJob();
        await store.complete(early.request_id, {}, at(10));
        const { job: earlyCancel } = await store.create(newJob(), at(0));
        await store.cancel(earlyCancel.request_id, at(15));
        const { job: earlyFail } = await store.create(newJob(), at(0));
        await store.fail(earlyFail.request_id, 'x', at(20));
        const late = await processingJob();
        await store.complete(late.request_id, {}, at(40));
        const { job: oldPending } = await store.create(newJob({ deadline_at: at(1) }), at(0));
        const oldProcessing = await processingJob();

        expect(await store.deleteFinishedBefore(at(30))).toBe(3);
        expect(await store.get(early.request_id)).toBeNull();
        expect(await store.get(earlyCancel.request_id)).toBeNull();
        expect(await store.get(earlyFail.request_id)).toBeNull();
        expect(await store.get(late.request_id)).not.toBeNull();
        expect(await store.get(oldPending.request_id)).not.toBeNull();
        expect(await store.get(oldProcessing.request_id)).not.toBeNull();
        expect(await store.deleteFinishedBefore(at(30))).toBe(0);
        expect(await store.deleteFinishedBefore(at(40))).toBe(0); // strictly before
        expect(await store.deleteFinishedBefore(at(41))).toBe(1);
      });
    });

    describe('expireIdempotencyKeys (retention of keys, default 24 h)', () => {
      test('frees the keys of jobs created before the cutoff; the jobs stay, newer keys stay', async () => {
        const old = await store.create(newJob({ idempotency_key: 'old-key' }), at(0));
        const fresh = await store.create(newJob({ idempotency_key: 'fresh-key' }), at(100));
        await store.create(newJob(), at(0)); // no key: nothing to expire
        expect(await store.expireIdempotencyKeys(at(50))).toBe(1);
        const kept = await store.get(old.job.request_id);
        expect(kept).not.toBeNull();
        expect(kept).not.toHaveProperty('idempotency_key');
        expect((await store.get(fresh.job.request_id))?.idempotency_key).toBe('fresh-key');
        // The expired key is free: a new submission with it makes a new job.
        const again = await store.create(newJob({ idempotency_key: 'old-key' }), at(200));
        expect(again.created).toBe(true);
        expect(again.job.request_id).not.toBe(old.job.request_id);
        const replay = await store.create(newJob({ idempotency_key: 'fresh-key' }), at(200));
        expect(replay).toMatchObject({ created: false, job: { request_id: fresh.job.request_id } });
        expect(await store.expireIdempotencyKeys(at(50))).toBe(0);
      });
    });

    describe('countByStatus', () => {
      test('counts one vendor\'s jobs in every status, zeros included', async () => {
        expect(await store.countByStatus('acme')).toEqual({ pending: 0, processing: 0, complete: 0, failed: 0, cancelled: 0 });
        await store.create(newJob(), at(0));
        await store.create(newJob(), at(0));
        await processingJob();
        const done = await processingJob();
        await store.complete(done.request_id, {}, at(2));
        await store.create(newJob({ vendor: 'other' }), at(0));
        const cancelled = await processingJob();
        await store.cancel(cancelled.request_id, at(3));
        expect(await store.countByStatus('acme')).toEqual({ pending: 2, processing: 1, complete: 1, failed: 0, cancelled: 1 });
        expect(await store.countByStatus('other')).toEqual({ pending: 1, processing: 0, complete: 0, failed: 0, cancelled: 0 });
      });
    });

    describe('createMany (POST /jobs/batch: one write for many jobs)', () => {
      test('stores every job pending, outcomes in input order, each readable as create() would store it', async () => {
        const inputs = [newJob({ payload: NESTED_PAYLOAD }), newJob({ vendor: 'other', payload: [1] }), newJob({ idempotency_key: 'many-1' })];
        const outcomes = await store.createMany(inputs, at(0));
        expect(outcomes.map((o) => o.ok && o.created)).toEqual([true, true, true]);
        for (const [i, input] of inputs.entries()) {
          const o = outcomes[i]!;
          if (!o.ok) throw new Error('expected ok');
          expect(o.job).toMatchObject({ request_id: input.request_id, vendor: input.vendor, status: 'pending', attempts: 0, created_at: at(0) });
          expect(await store.get(input.request_id)).toEqual(o.job);
        }
        expect((await store.createMany([], at(0))).length).toBe(0);
      });

      test('stores each item\'s priority (default normal), as create() does', async () => {
        const inputs = [newJob({ priority: 'high' }), newJob({ priority: 'low' }), newJob(), newJob({ priority: 'normal', idempotency_key: 'many-prio' })];
        const outcomes = await store.createMany(inputs, at(0));
        expect(outcomes.map((o) => (o.ok ? o.job.priority : o.error))).toEqual(['high', 'low', 'normal', 'normal']);
        for (const input of inputs) expect((await store.get(input.request_id))?.priority).toBe(input.priority ?? 'normal');
        // A used key answers with the stored job's priority, whatever the repeat asks (the api compares them).
        const [again] = await store.createMany([newJob({ priority: 'high', idempotency_key: 'many-prio' })], at(1));
        expect(again).toMatchObject({ ok: true, created: false, job: { request_id: inputs[3]!.request_id, priority: 'normal' } });
      });

      test('a used Idempotency-Key takes the existing job (created=false); a taken request_id fails only its item', async () => {
        const first = (await store.create(newJob({ idempotency_key: 'many-key', payload: { n: 1 } }), at(0))).job;
        const taken = (await store.create(newJob(), at(0))).job;
        const fresh = newJob();
        const outcomes = await store.createMany(
          [newJob({ idempotency_key: 'many-key', payload: { n: 2 } }), newJob({ request_id: taken.request_id }), fresh],
          at(5),
        );
        expect(outcomes[0]).toEqual({ ok: true, created: false, job: first });
        expect(outcomes[1]).toMatchObject({ ok: false, error: { code: 'conflict' } });
        expect(outcomes[2]).toMatchObject({ ok: true, created: true });
        expect(await store.get(fresh.request_id)).not.toBeNull();
        expect(await store.countByStatus('acme')).toMatchObject({ pending: 3 });
      });

      test('the same key twice in one call stores one job; the second item takes it', async () => {
        const a = newJob({ idempotency_key: 'twice' });
        const b = newJob({ idempotency_key: 'twice' });
        const [oa, ob] = await store.createMany([a, b], at(0));
        expect(oa).toMatchObject({ ok: true, created: true });
        expect(ob).toMatchObject({ ok: true, created: false, job: { request_id: a.request_id } });
        expect(await store.get(b.request_id)).toBeNull();
      });

      test('a payload JSON cannot encode fails its item as unserializable; the others are stored', async () => {
        const good = newJob();
        const [bad, ok] = await store.createMany([newJob({ payload: { x: 10n } }), good], at(0));
        expect(bad).toMatchObject({ ok: false, error: { code: 'unserializable' } });
        expect(ok).toMatchObject({ ok: true, created: true });
      });

      test('stores each item\'s callback_url and client_id with a pending delivery, as create() does', async () => {
        const HOOK = 'https://hooks.example/batch';
        const inputs = [newJob({ callback_url: HOOK, client_id: 'key:abc', priority: 'high' }), newJob()];
        const outcomes = await store.createMany(inputs, at(0));
        const want = { callback_url: HOOK, client_id: 'key:abc', priority: 'high', callback: { state: 'pending', attempts: 0, next_at: new Date(0) } };
        expect(outcomes[0]).toMatchObject({ ok: true, created: true, job: want });
        expect(await store.get(inputs[0]!.request_id)).toMatchObject(want);
        const plain = await store.get(inputs[1]!.request_id);
        expect(plain?.callback).toBeUndefined();
        expect(plain?.callback_url).toBeUndefined();
      });
    });

    describe('listJobs (GET /jobs)', () => {
      /** Jobs with ascending ids (a fixed prefix + counter), so the expected order is the input order. */
      const seq = (n: number) => `0190${String(n).padStart(4, '0')}-0000-7000-8000-000000000000`;

      test('pages in request_id order by cursor, with filters, metadata only unless asked', async () => {
        const made: Job[] = [];
        for (let n = 0; n < 7; n++) {
          const priority = (['high', 'normal', 'low'] as const)[n % 3];
          const { job } = await store.create(newJob({ request_id: seq(n), vendor: n % 2 === 0 ? 'acme' : 'other', priority, payload: { n } }), at(n));
          made.push(job);
        }
        await store.startAttempt(seq(2), at(60), at(10));
        await store.complete(seq(2), { done: true }, at(11));

        const all = await store.listJobs({ limit: 100 });
        expect(all.map((j) => j.request_id)).toEqual(made.map((j) => j.request_id));
        expect(all[0]).not.toHaveProperty('payload');
        expect(all[2]).not.toHaveProperty('result');
        expect(all[2]).toMatchObject({ status: 'complete', attempts: 1, completed_at: at(11) });
        expect(all.map((j) => j.priority)).toEqual(made.map((j) => j.priority));
        expect(all.slice(0, 3).map((j) => j.priority)).toEqual(['high', 'normal', 'low']);

        const p1 = await store.listJobs({ limit: 3 });
        const p2 = await store.listJobs({ limit: 3, afterRequestId: p1[2]!.request_id });
        const p3 = await store.listJobs({ limit: 3, afterRequestId: p2[2]!.request_id });
        expect([...p1, ...p2, ...p3].map((j) => j.request_id)).toEqual(all.map((j) => j.request_id));

        expect((await store.listJobs({ limit: 100, vendor: 'acme' })).map((j) => j.request_id)).toEqual([seq(0), seq(2), seq(4), seq(6)]);
        expect((await store.listJobs({ limit: 100, vendor: 'acme', status: 'pending' })).map((j) => j.request_id)).toEqual([seq(0), seq(4), seq(6)]);
        expect((await store.listJobs({ limit: 100, status: 'complete' })).map((j) => j.request_id)).toEqual([seq(2)]);
        expect((await store.listJobs({ limit: 100, createdAfter: at(4) })).map((j) => j.request_id)).toEqual([seq(5), seq(6)]);
        expect(await store.listJobs({ limit: 100, vendor: 'nobody' })).toEqual([]);
        expect(await store.listJobs({ limit: 0 })).toEqual([]);

        const full = await store.listJobs({ limit: 3, withPayload: true });
        expect(full.map((j) => j.payload)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
        expect(full[2]!.result).toEqual({ done: true });
        expect(full.map((j) => j.priority)).toEqual(['high', 'normal', 'low']);
      });
    });

    describe('completeFromCache (the result cache answered)', () => {
      test('pending → complete with from_cache, attempts unchanged; a job not from the cache has no from_cache', async () => {
        const { job } = await store.create(newJob(), at(0));
        expect(await store.completeFromCache(job.request_id, { cached: 1 }, at(2), 0)).toBe(true);
        expect(await store.get(job.request_id)).toMatchObject({ status: 'complete', result: { cached: 1 }, from_cache: true, attempts: 0, completed_at: at(2) });
        expect(await store.completeFromCache(job.request_id, { again: 1 }, at(3), 0)).toBe(false);
        const called = await processingJob();
        await store.complete(called.request_id, { v: 1 }, at(2));
        expect((await store.get(called.request_id))?.from_cache).toBeUndefined();
      });

      test('fenced on the attempts read: a job another worker started meanwhile, or a finished one, is left alone', async () => {
        const { job } = await store.create(newJob(), at(0));
        await store.startAttempt(job.request_id, at(30), at(1));
        expect(await store.completeFromCache(job.request_id, { cached: 1 }, at(2), 0)).toBe(false);
        expect((await store.get(job.request_id))?.status).toBe('processing');
        expect(await store.completeFromCache(job.request_id, { cached: 1 }, at(2), 1)).toBe(true);
        const { job: gone } = await store.create(newJob(), at(0));
        await store.cancel(gone.request_id, at(1));
        expect(await store.completeFromCache(gone.request_id, {}, at(2), 0)).toBe(false);
        expect((await store.get(gone.request_id))?.status).toBe('cancelled');
      });
    });

    describe('completion callbacks: findDueCallbacks, claimCallback, settleCallback', () => {
      const HOOK = 'https://hooks.example/done';

      test('a job with callback_url and client_id round-trips with a pending delivery; one without has none', async () => {
        const { job } = await store.create(newJob({ callback_url: HOOK, client_id: 'key:abc' }), at(0));
        const want = { callback_url: HOOK, client_id: 'key:abc', callback: { state: 'pending', attempts: 0, next_at: new Date(0) } };
        expect(job).toMatchObject(want);
        expect(await store.get(job.request_id)).toMatchObject(want);
        const { job: plain } = await store.create(newJob(), at(0));
        const read = await store.get(plain.request_id);
        expect(read?.callback).toBeUndefined();
        expect(read?.callback_url).toBeUndefined();
      });

      test('due only once the job is finished (complete, failed or cancelled), never while it runs', async () => {
        const running = await processingJob({ callback_url: HOOK });
        const { job: pending } = await store.create(newJob({ callback_url: HOOK }), at(0));
        const done = await processingJob({ callback_url: HOOK });
        await store.complete(done.request_id, { ok: 1 }, at(2));
        const failed = await processingJob({ callback_url: HOOK });
        await store.fail(failed.request_id, 'boom', at(2));
        const { job: cancelled } = await store.create(newJob({ callback_url: HOOK }), at(0));
        await store.cancel(cancelled.request_id, at(2));
        const noHook = await processingJob();
        await store.complete(noHook.request_id, {}, at(2));

        const due = await store.findDueCallbacks(at(3), 100);
        expect(due.map((d) => d.request_id).sort()).toEqual([done.request_id, failed.request_id, cancelled.request_id].sort());
        expect(due.every((d) => d.attempts === 0)).toBe(true);
        for (const id of [running.request_id, pending.request_id]) expect(due.map((d) => d.request_id)).not.toContain(id);
        expect(await store.claimCallback(running.request_id, 0, at(60), at(3))).toBeNull();
        expect(await store.findDueCallbacks(at(3), 1)).toHaveLength(1);
      });

      test('a claim is a compare-and-set on attempts and holds a lease: claimed → not due until the lease ends', async () => {
        const job = await processingJob({ callback_url: HOOK });
        await store.complete(job.request_id, { ok: 1 }, at(2));
        const claimed = await store.claimCallback(job.request_id, 0, at(30), at(3));
        expect(claimed).toMatchObject({ status: 'complete', result: { ok: 1 }, callback: { state: 'pending', attempts: 1, next_at: at(30) } });
        // A second sender that read attempts = 0 loses.
        expect(await store.claimCallback(job.request_id, 0, at(30), at(3))).toBeNull();
        expect(await store.findDueCallbacks(at(29), 10)).toEqual([]);
        // The claimer died: after the lease the delivery is due again, with the new count.
        expect(await store.findDueCallbacks(at(30), 10)).toEqual([{ request_id: job.request_id, attempts: 1 }]);
        expect(await store.claimCallback(job.request_id, 1, at(60), at(31))).toMatchObject({ callback: { attempts: 2 } });
      });

      test('settle: retry keeps it pending with last_error and next_at; delivered and failed are final; a stale attempt writes nothing', async () => {
        const job = await processingJob({ callback_url: HOOK });
        await store.fail(job.request_id, 'boom', at(2));
        await store.claimCallback(job.request_id, 0, at(30), at(3));
        expect(await store.settleCallback(job.request_id, 1, { state: 'pending', error: 'HTTP 503', nextAt: at(10) }, at(4))).toBe(true);
        expect((await store.get(job.request_id))?.callback).toEqual({ state: 'pending', attempts: 1, last_error: 'HTTP 503', next_at: at(10) });
        expect(await store.findDueCallbacks(at(9), 10)).toEqual([]);
        expect(await store.findDueCallbacks(at(10), 10)).toHaveLength(1);

        await store.claimCallback(job.request_id, 1, at(40), at(10));
        // The sender of attempt 1 (stale) cannot write over attempt 2.
        expect(await store.settleCallback(job.request_id, 1, { state: 'delivered' }, at(11))).toBe(false);
        expect(await store.settleCallback(job.request_id, 2, { state: 'delivered' }, at(11))).toBe(true);
        expect((await store.get(job.request_id))?.callback).toEqual({ state: 'delivered', attempts: 2, next_at: at(40), delivered_at: at(11) });
        expect(await store.settleCallback(job.request_id, 2, { state: 'failed', error: 'late' }, at(12))).toBe(false);
        expect(await store.findDueCallbacks(at(1000), 10)).toEqual([]);

        const other = await processingJob({ callback_url: HOOK });
        await store.complete(other.request_id, {}, at(2));
        await store.claimCallback(other.request_id, 0, at(30), at(3));
        expect(await store.settleCallback(other.request_id, 1, { state: 'failed', error: 'redirect refused' }, at(4))).toBe(true);
        expect((await store.get(other.request_id))?.callback).toMatchObject({ state: 'failed', attempts: 1, last_error: 'redirect refused' });
        expect(await store.claimCallback(other.request_id, 1, at(60), at(1000))).toBeNull();
      });

      raceTest('racing senders: exactly one claim of a due delivery wins', async () => {
        const job = await processingJob({ callback_url: HOOK });
        await store.complete(job.request_id, {}, at(2));
        const claims = await Promise.all(Array.from({ length: 8 }, () => store.claimCallback(job.request_id, 0, at(30), at(3))));
        expect(claims.filter((c) => c !== null)).toHaveLength(1);
        expect((await store.get(job.request_id))?.callback?.attempts).toBe(1);
      });
    });

    describe('delete', () => {
      test('removes a job once', async () => {
        const { job } = await store.create(newJob(), at(0));
        expect(await store.delete(job.request_id)).toBe(true);
        expect(await store.get(job.request_id)).toBeNull();
        expect(await store.delete(job.request_id)).toBe(false);
        expect(await store.countByStatus('acme')).toEqual({ pending: 0, processing: 0, complete: 0, failed: 0, cancelled: 0 });
      });
    });

    test('close is idempotent', async () => {
      await store.close();
      await expect(store.close()).resolves.toBeUndefined();
    });
  });
}
