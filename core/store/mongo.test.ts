// Runs the JobStore contract against the MongoDB-wire server at MONGODB_URL (the jest global
// setup exports the test environment's FerretDB there), then what is the MongoDB adapter's own:
// version claims and the group commit of create(). Every store gets its own database, named
// after this run, and all of them are dropped at the end.

import { randomUUID } from 'node:crypto';

import { MongoClient } from 'mongodb';

import { freePort } from '../../testing/ports.js';
import type { NewJob } from '../job.js';
import { describeJobStoreContract } from './contract.js';
import { createMongoJobStore, dbNameFromUrl, usesNonAtomicUpdates } from './mongo.js';

const url = process.env.MONGODB_URL;

test('an unreachable server makes the factory reject with a retryable unavailable error', async () => {
  const port = await freePort(); // nothing listens there
  const started = Date.now();
  await expect(
    createMongoJobStore({ url: `mongodb://127.0.0.1:${port}/x`, serverSelectionTimeoutMs: 300 }),
  ).rejects.toMatchObject({ code: 'unavailable', retryable: true });
  expect(Date.now() - started).toBeLessThan(5000);
});

test('dbNameFromUrl reads the path of single- and multi-host URLs', () => {
  expect(dbNameFromUrl('mongodb://127.0.0.1:27017/jobs?retryWrites=false')).toBe('jobs');
  expect(dbNameFromUrl('mongodb://u:p@a:1,b:2/prod')).toBe('prod');
  expect(dbNameFromUrl('mongodb+srv://cluster.example.net/')).toBeUndefined();
  expect(dbNameFromUrl('mongodb://127.0.0.1:27017')).toBeUndefined();
});

if (!url) {
  const reason = 'MONGODB_URL is not set (no MongoDB-wire test server; run under the jest global setup or `npm run testenv -- up`)';
  console.warn(`core/store/mongo.test.ts: MongoDB contract suite skipped: ${reason}`);
  test.skip(`JobStore contract: mongodb — skipped: ${reason}`, () => undefined);
} else {
  const runId = `vf_store_${process.pid}_${Date.now().toString(36)}`;
  const dbNames: string[] = [];
  // Top-level await: which tests to register depends on the server, known before collection.
  const admin = new MongoClient(url, { serverSelectionTimeoutMS: 10_000 });
  await admin.connect();
  const nonAtomic = await usesNonAtomicUpdates(admin.db('admin'));

  afterAll(async () => {
    for (const name of dbNames) await admin.db(name).dropDatabase().catch(() => undefined);
    await admin.close();
  });

  // The same-job race tests run here too: on a server whose updates are not atomic (FerretDB
  // v1, issue #3040) they used to be skipped; its status changes now go through version
  // claims (version-claims.ts), and the races must come out as on MongoDB.
  // With group commit (the default: creates of one turn share an insert command, and every
  // create still behaves as if it were alone), and with one insert per job.
  describeJobStoreContract('mongodb', async () => {
    const dbName = `${runId}_${dbNames.length}`;
    dbNames.push(dbName);
    return createMongoJobStore({ url, dbName });
  });
  describeJobStoreContract('mongodb, one insert per job', async () => {
    const dbName = `${runId}_${dbNames.length}`;
    dbNames.push(dbName);
    return createMongoJobStore({ url, dbName, insertBatchMax: 1 });
  });

  // Issue 10 (fault suite): on FerretDB v1 two entries of one job (a reclaimed one and the
  // sweeper's) both started the same attempt after a store restart, and the job was completed
  // twice. Where updates are not atomic, status changes now claim the job's version first.
  describe('racing status changes of one job (version claims where updates are not atomic)', () => {
    const newStore = async () => {
      const dbName = `${runId}_${dbNames.length}`;
      dbNames.push(dbName);
      return { dbName, store: await createMongoJobStore({ url, dbName, operationTimeoutMs: 1000 }) };
    };
    const job = (n: number) => ({ request_id: `01a22b7c-674b-7ed7-8507-${String(n).padStart(12, '0')}`, vendor: 'v', payload: {}, deadline_at: new Date() });

    test('exactly one of 10 callers starts attempt 1', async () => {
      const { store } = await newStore();
      try {
        for (let n = 0; n < 5; n++) {
          const { job: j } = await store.create(job(n), new Date());
          const started = await Promise.all(Array.from({ length: 10 }, () => store.startAttempt(j.request_id, new Date(), new Date(), 0)));
          expect(started.filter((x) => x !== null)).toHaveLength(1);
          expect((await store.get(j.request_id))?.attempts).toBe(1);
        }
      } finally {
        await store.close();
      }
    });

    test('a write back of a stale copy cannot undo a start or a completion (the sweeper racing a worker)', async () => {
      const { store } = await newStore();
      try {
        for (let n = 10; n < 30; n++) {
          const { job: j } = await store.create(job(n), new Date());
          // The sweeper moves a pending job's deadline (5 times at once) while a worker starts
          // and completes it: each write must see the others, none may write back an old copy.
          let started: Awaited<ReturnType<typeof store.startAttempt>> = null;
          const worker = async () => {
            started = await store.startAttempt(j.request_id, new Date(), new Date(), 0);
            if (started) expect(await store.complete(j.request_id, { ok: n }, new Date(), 1)).toBe(true);
          };
          await Promise.all([worker(), ...Array.from({ length: 5 }, () => store.setDeadline(j.request_id, 'pending', new Date(), new Date(), 0))]);
          const after = await store.get(j.request_id);
          if (started) expect(after).toMatchObject({ status: 'complete', attempts: 1 });
          else expect(after).toMatchObject({ status: 'pending', attempts: 0 });
        }
      } finally {
        await store.close();
      }
    });

    test.each([
      ['fresh', 0, false],
      ['stale (its writer died before its update)', 60_000, true],
    ])('a %s claim of the job version: can the job change? ', async (_what, ageMs, changes) => {
      const { dbName, store } = await newStore();
      try {
        const { job: j } = await store.create(job(9), new Date());
        if (!nonAtomic) return; // claims exist only where updates are not atomic
        await admin.db(dbName).collection('job_version_claims').insertOne({ _id: `${j.request_id}@0` as never, at: new Date(Date.now() - ageMs) });
        const started = store.startAttempt(j.request_id, new Date(), new Date(), 0);
        // A fresh claim: the writer waits for the version to move on, until its deadline (1 s).
        if (changes) expect(await started).toMatchObject({ attempts: 1 });
        else await expect(started).rejects.toMatchObject({ code: 'unavailable' });
      } finally {
        await store.close();
      }
    });
  });

  // Issue 14 item 1: the creates of one event-loop turn share one insert command.
  describe('group commit of create()', () => {
    const newStore = async (opts: { insertBatchMax?: number; insertsInFlight?: number } = {}) => {
      const dbName = `${runId}_${dbNames.length}`;
      dbNames.push(dbName);
      return { jobs: admin.db(dbName).collection<{ _id: string }>('jobs'), store: await createMongoJobStore({ url, dbName, insertBatchMax: 100, ...opts }) };
    };
    let n = 0;
    const job = (over: Partial<NewJob> = {}): NewJob => ({ request_id: randomUUID(), vendor: 'v', payload: { n: n++ }, deadline_at: new Date(), ...over });
    /** Insert commands the server has answered so far (serverStatus; MongoDB and FerretDB report it). */
    const insertCommands = async (): Promise<number> => {
      const status = await admin.db('admin').command({ serverStatus: 1 });
      const total = (status['metrics'] as { commands?: { insert?: { total?: unknown } } } | undefined)?.commands?.insert?.total;
      if (total === undefined) throw new Error('this server reports no metrics.commands.insert in serverStatus');
      return Number(total);
    };

    test('one turn, one insert command: a taken Idempotency-Key and a taken request_id fail only their own create', async () => {
      const { jobs, store } = await newStore();
      try {
        const keyed = await store.create(job({ idempotency_key: 'taken' }), new Date());
        const plain = await store.create(job(), new Date());
        const fresh = Array.from({ length: 18 }, () => job());
        const before = await insertCommands();
        const [replay, conflict, ...created] = await Promise.allSettled([
          store.create(job({ idempotency_key: 'taken' }), new Date()),
          store.create(job({ request_id: plain.job.request_id }), new Date()),
          ...fresh.map((j) => store.create(j, new Date())),
        ]);
        // The two duplicates fail inside the batch, each then takes its own path; one command carried all 20.
        expect(await insertCommands()).toBe(before + 1);
        expect(replay).toMatchObject({ status: 'fulfilled', value: { created: false, job: { request_id: keyed.job.request_id } } });
        expect(conflict).toMatchObject({ status: 'rejected', reason: { code: 'conflict' } });
        expect(created.map((r) => r.status === 'fulfilled' && r.value.created)).toEqual(fresh.map(() => true));
        expect(await jobs.countDocuments({ _id: { $in: fresh.map((j) => j.request_id) } })).toBe(18);
        expect(await jobs.countDocuments()).toBe(20);
      } finally {
        await store.close();
      }
    });

    test('each create resolves only once its job is stored: another client reads it right after the await', async () => {
      const { jobs, store } = await newStore();
      try {
        const found = await Promise.all(
          Array.from({ length: 50 }, async () => {
            const { job: j } = await store.create(job(), new Date());
            return jobs.findOne({ _id: j.request_id });
          }),
        );
        expect(found.filter((doc) => doc === null)).toHaveLength(0);
      } finally {
        await store.close();
      }
    });

    test('a turn with more creates than insertBatchMax sends several commands of at most that many', async () => {
      const { jobs, store } = await newStore({ insertBatchMax: 10 });
      try {
        const before = await insertCommands();
        const results = await Promise.all(Array.from({ length: 25 }, () => store.create(job(), new Date())));
        expect(await insertCommands()).toBe(before + 3);
        expect(results.every((r) => r.created)).toBe(true);
        expect(await jobs.countDocuments()).toBe(25);
      } finally {
        await store.close();
      }
    });

    test('while a command is on the wire, the creates of the next turns gather into the next one', async () => {
      const { jobs, store } = await newStore({ insertsInFlight: 1 });
      try {
        const before = await insertCommands();
        const creates: Array<Promise<unknown>> = [];
        // 20 turns of 5 creates, much faster than one insert's round trip.
        for (let turn = 0; turn < 20; turn++) {
          for (let i = 0; i < 5; i++) creates.push(store.create(job(), new Date()));
          await new Promise((resolve) => setImmediate(resolve));
        }
        await Promise.all(creates);
        expect(await insertCommands() - before).toBeLessThan(20);
        expect(await jobs.countDocuments()).toBe(100);
      } finally {
        await store.close();
      }
    });

    test('close() lets the creates it interrupts finish and be stored', async () => {
      const { jobs, store } = await newStore();
      const pending = Array.from({ length: 5 }, () => store.create(job(), new Date()));
      await store.close();
      expect((await Promise.all(pending)).every((r) => r.created)).toBe(true);
      expect(await jobs.countDocuments()).toBe(5);
    });

    test('unacknowledged writes (w: 0) are refused: a 202 must mean stored', async () => {
      await expect(createMongoJobStore({ url, dbName: `${runId}_w0`, writeConcern: 0 })).rejects.toThrow(/writeConcern/);
    });
  });

  test('indexes: status+deadline, unique idem, vendor+status, completed_at', async () => {
    const dbName = `${runId}_${dbNames.length}`;
    dbNames.push(dbName);
    const store = await createMongoJobStore({ url, dbName, retentionSeconds: 3600, logger: { warn: () => undefined, info: () => undefined } });
    try {
      const indexes = await admin.db(dbName).collection('jobs').indexes();
      const byName = new Map(indexes.map((i) => [i.name, i]));
      expect(byName.get('status_deadline')?.key).toEqual({ status: 1, deadline_at: 1 });
      expect(byName.get('idem_unique')).toMatchObject({ key: { idem: 1 }, unique: true });
      expect(byName.get('vendor_status')?.key).toEqual({ vendor: 1, status: 1 });
      // A TTL index where supported, else a plain one: either way retention can use it.
      expect(indexes.some((i) => JSON.stringify(i.key) === '{"completed_at":1}')).toBe(true);
      // A second start against the same database (another replica) succeeds.
      await (await createMongoJobStore({ url, dbName })).close();
    } finally {
      await store.close();
    }
  });
}
