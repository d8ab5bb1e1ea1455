// The quota holds across worker processes: 4 workers, 20 rps with burst 5, 400 jobs, and a
// vendor that refuses (and counts) every call beyond 20 in any rolling second.
import { eventually } from '../../testing/programs.js';
import { startDataPlane, startSyncMockProcess, submitMany, type DataPlane, type MockProcess } from './harness.js';

const RPS = 20;
const BURST = 5;
const JOBS = 400;

let plane: DataPlane;
let mock: MockProcess;

beforeAll(async () => {
  // The vendor runs in its own process, as a real one does (see startSyncMockProcess).
  mock = await startSyncMockProcess({ limitPerSecond: RPS, latencyMs: 20 });
  plane = await startDataPlane();
  await plane.publish('local/quota', [{ name: 'quota', url: mock.fetchUrl, quota: { requestsPerSecond: RPS, burst: BURST } }]);
}, 60_000);

afterAll(async () => {
  await plane?.stop();
  await mock?.stop();
});

test('4 workers keep 20 rps in every rolling second and use ≥ 95 % of it', async () => {
  // Enough work from the first call on (the contract's condition for ≥ 95 %): every job is
  // queued before the workers start, so the busy period measures the gate, not how fast this
  // test can submit. The 4 workers start together.
  await submitMany(plane, 'quota', JOBS);
  await Promise.all(Array.from({ length: 4 }, () => plane.startWorker('local/quota', { VF_CONCURRENCY: '20' })));
  await eventually('all jobs complete', async () => (await plane.counts('quota')).complete === JOBS, 90_000, 250);

  const c = await mock.counters();
  const busySeconds = (c.lastServedAt! - c.firstServedAt!) / 1000;
  // An upper bound on the calls the quota allows in that busy period: `burst` back to back,
  // then one per 1/rps. (The rolling-second rule can allow a little less, never more, so the
  // utilisation figure errs low.)
  const allowed = BURST + RPS * busySeconds;
  const utilisation = c.served / allowed;
  console.log(
    `quota e2e: served ${c.served} calls in ${busySeconds.toFixed(2)} s, violations ${c.violations}, ` +
      `max in any rolling second ${c.maxRateInAnyRollingSecond}, utilisation ${(utilisation * 100).toFixed(1)} %`,
  );
  expect(c.violations).toBe(0);
  expect(c.maxRateInAnyRollingSecond).toBeLessThanOrEqual(RPS);
  expect(c.served).toBe(JOBS);
  expect(utilisation).toBeGreaterThanOrEqual(0.95);
}, 120_000);
