// The api SIGKILLed while clients POST jobs, with group commit on (issue 14): creates of one
// event-loop turn go to the store as one transaction (SQLite) or one insert command (MongoDB
// wire, VF_MONGODB_INSERT_BATCH, default 100), so a kill can land between a batch's write and its
// answers, or between the write and the XADDs. What must hold: every POST answered 202 names a
// stored job, and every stored job — answered or cut off — ends complete, none twice (the
// sweeper queues a job whose XADD never happened). Real processes from dist/, real redis-server,
// the SQLite file or a private FerretDB.
import { randomBytes } from 'node:crypto';
import type { JobStore } from '../../core/job.js';
import { createJobStore } from '../../core/store/index.js';
import { freePort } from '../../testing/ports.js';
import { eventually, startProgram, type RunningProgram } from '../../testing/programs.js';
import { startDataPlane, type DataPlane } from '../dataplane/harness.js';
import { ferretBinary, startStoreServer, type StoreServer } from './store-server.js';
import { allFinished, settlementProblems, startVendor, storedIds, type TestVendor } from './support.js';

const binary = ferretBinary();
type Store = 'sqlite' | 'mongodb';
const stores: Store[] = binary ? ['sqlite', 'mongodb'] : ['sqlite'];
if (!binary) console.warn('SKIPPED (api crash, MongoDB wire): no FerretDB in VF_TESTENV_BIN (run through jest, whose global setup provides it)');

const workerEnv = { VF_CONCURRENCY: '10', VF_VISIBILITY_TIMEOUT_MS: '3000', VF_SWEEP_INTERVAL_MS: '300', VF_CALL_MARGIN_MS: '300' };

let plane: DataPlane | undefined;
let storeServer: StoreServer | undefined;
let mongoStore: JobStore | undefined;
let vendor: TestVendor | undefined;
let doomed: RunningProgram | undefined;

afterEach(async () => {
  await doomed?.kill('SIGKILL');
  await plane?.stop();
  await mongoStore?.close().catch(() => undefined);
  await storeServer?.close();
  await vendor?.close();
  [plane, storeServer, mongoStore, vendor, doomed] = [undefined, undefined, undefined, undefined, undefined];
});

test.each(stores)('the api is SIGKILLed during POSTs with group commit on (%s): every 202 is stored, every stored job completes once', async (kind) => {
  vendor = await startVendor((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  let env: NodeJS.ProcessEnv = { VF_PENDING_TIMEOUT_SECONDS: '5' };
  if (kind === 'mongodb') {
    storeServer = await startStoreServer(binary!, `apicrash_${randomBytes(3).toString('hex')}`);
    env = { ...env, MONGODB_URL: storeServer.url, VF_MONGODB_INSERT_BATCH: '100' };
  }
  const p = (plane = await startDataPlane(env));
  const store = kind === 'mongodb' ? (mongoStore = await createJobStore({ mongodbUrl: storeServer!.url, sqlitePath: '' })) : p.store;
  await p.publish('local/apicrash', [{ name: 'apicrash', url: vendor.url, quota: { requestsPerSecond: 500 }, timeoutSeconds: 2 }]);
  await p.startWorker('local/apicrash', workerEnv);
  const warm = await p.submit('apicrash', { warm: true }); // the plane's api knows the vendor

  // A second api on the same store and Redis: the one that dies.
  const port = await freePort();
  doomed = await startProgram('api-doomed', (process.env.VF_E2E_DIST ?? 'dist') + '/api/main.js', { ...p.env, PORT: String(port), API_METRICS_PORT: String(await freePort()) }, { waitPort: port });
  const url = `http://127.0.0.1:${port}/jobs`;

  // 32 clients keep POSTing (many creates per turn, so batches form) until the api dies.
  const accepted: string[] = [warm];
  const answers = new Map<string, number>();
  let n = 0;
  let dead = false;
  const clients = Array.from({ length: 32 }, async () => {
    while (!dead) {
      try {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ vendor: 'apicrash', payload: { n: n++ } }) });
        answers.set(String(res.status), (answers.get(String(res.status)) ?? 0) + 1);
        const body = (await res.json()) as { request_id?: string };
        if (res.status === 202) accepted.push(body.request_id!);
      } catch {
        answers.set('cut off', (answers.get('cut off') ?? 0) + 1); // the kill dropped the connection
      }
    }
  });
  await eventually('the doomed api accepted 300 jobs', () => accepted.length > 300, 30_000, 10);
  await doomed.kill('SIGKILL');
  dead = true;
  await Promise.all(clients);
  console.log(`api SIGKILLed (${kind}): answers ${JSON.stringify(Object.fromEntries(answers))}`);
  expect([...answers.keys()].filter((status) => status !== '202' && status !== 'cut off')).toEqual([]);

  // Every 202 names a stored job; every stored job (some were cut off before their answer, or
  // before their XADD) ends complete, and none twice.
  const stored = await storedIds(store, 'apicrash');
  const storedSet = new Set(stored);
  expect(accepted.filter((id) => !storedSet.has(id))).toEqual([]);
  await eventually('every stored job finished', () => allFinished(store, stored), 60_000, 250);
  expect(await settlementProblems(store, stored, p.workers)).toEqual([]);
  console.log(`  ${accepted.length} accepted, ${stored.length - accepted.length} stored but cut off before their answer; all complete`);
}, 120_000);
