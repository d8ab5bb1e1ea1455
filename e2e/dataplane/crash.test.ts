// A worker SIGKILLed in the middle of a run loses nothing: every job ends complete, and each
// completion is recorded exactly once even when the vendor was called twice for it.
import { startSyncMock, type SyncMock } from '../../vendor-mocks/index.js';
import { eventually } from '../../testing/programs.js';
import { startDataPlane, submitMany, type DataPlane } from './harness.js';

const JOBS = 500;
let plane: DataPlane;
let mock: SyncMock;

// Short timers so the dead worker's jobs come back within seconds instead of minutes.
const workerEnv = { VF_CONCURRENCY: '20', VF_VISIBILITY_TIMEOUT_MS: '3000', VF_SWEEP_INTERVAL_MS: '500', VF_CALL_MARGIN_MS: '500' };

beforeAll(async () => {
  mock = await startSyncMock({ port: 0, latencyMs: { min: 20, max: 120 } });
  plane = await startDataPlane({ VF_PENDING_TIMEOUT_SECONDS: '5' });
  await plane.publish('local/crash', [{ name: 'crash', url: mock.fetchUrl, timeoutSeconds: 2, quota: { requestsPerSecond: 400 } }]);
  for (let i = 0; i < 3; i++) await plane.startWorker('local/crash', workerEnv);
}, 60_000);

afterAll(async () => {
  await plane?.stop();
  await mock?.close();
});

test('SIGKILL one of three workers mid-run: all 500 complete, each completion recorded once', async () => {
  const ids = await submitMany(plane, 'crash', JOBS);
  await eventually('a third of the jobs complete', async () => (await plane.counts('crash')).complete >= JOBS / 3, 60_000, 50);
  const victim = plane.workers[0]!;
  await victim.kill('SIGKILL');

  await eventually('all jobs complete', async () => (await plane.counts('crash')).complete === JOBS, 120_000, 250);

  // Completions are counted from the workers' own logs (the killed one's included, up to its
  // death): a "job complete" line is written only by the call that won the store's CAS. The
  // killed worker may die between its store commit and its log line, so a few of its jobs
  // (at most its concurrency) may have no line; none may have two.
  const completions = new Map<string, number>();
  for (const w of plane.workers)
    for (const line of w.logs)
      if (line.msg === 'job complete' && typeof line.request_id === 'string')
        completions.set(line.request_id, (completions.get(line.request_id) ?? 0) + 1);
  const twice = [...completions.values()].filter((n) => n > 1).length;
  const c = mock.counters({ perKey: false });
  console.log(
    `crash e2e: ${JOBS} jobs, ${c.served} vendor calls, ${c.duplicateKeys} jobs called more than once, ` +
      `completions logged ${[...completions.values()].reduce((a, b) => a + b, 0)}`,
  );
  expect(twice).toBe(0);
  expect(completions.size).toBeGreaterThanOrEqual(JOBS - Number(workerEnv.VF_CONCURRENCY));
  const known = new Set(ids);
  for (const id of completions.keys()) expect(known.has(id)).toBe(true);
  const counts = await plane.counts('crash');
  expect(counts).toEqual({ pending: 0, processing: 0, complete: JOBS, failed: 0, cancelled: 0 });
}, 180_000);
