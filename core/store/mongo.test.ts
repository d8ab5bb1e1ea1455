// Runs the JobStore contract against the MongoDB-wire server at MONGODB_URL (the jest global
// setup exports the test environment's FerretDB there). Every store gets its own database,
// named after this run, and all of them are dropped at the end.

import { MongoClient } from 'mongodb';

import { freePort } from '../../e2e/support/ports.js';
import { describeJobStoreContract } from './contract.js';
import { createMongoJobStore, dbNameFromUrl, usesNonAtomicUpdates } from './mongo.js';

const url = process.env.MONGODB_URL;

test('an unreachable server makes the factory reject with a retryable unavailable error', async () => {
  const port = await freePort(); // nothing listens there
  const started = Date.now();
  await expect(
    createMongoJobStore({ url: `mongodb://127.0.0.1:${port}/x`, serverSelectionTimeoutMs: 300 }),
  ).rejects.toMatchObject({ code: 'unavailable', httpStatus: 503, retryable: true });
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

  describeJobStoreContract('mongodb', async () => {
    const dbName = `${runId}_${dbNames.length}`;
    dbNames.push(dbName);
    return createMongoJobStore({ url, dbName });
  }, {
    sameJobRacesSkipReason:
      nonAtomic
        ? 'this server (FerretDB v1) applies updates as an unlocked read-modify-write (FerretDB issue #3040): racing writers to one document can all succeed; MongoDB and FerretDB v2 are atomic'
        : undefined,
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
