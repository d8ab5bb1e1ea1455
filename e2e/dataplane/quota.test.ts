// The quota holds across worker processes: 4 workers, 20 rps with burst 5, 400 jobs, and a
// vendor that refuses (and counts) every call beyond 20 in any rolling second.
import { startSyncMock, type SyncMock } from '../../vendor-mocks/index.js';
import { eventually } from '../support/programs.js';
import { startDataPlane, submitMany, type DataPlane } from './harness.js';

const RPS = 20;
const JOBS = 400;

let plane: DataPlane;
let mock: SyncMock;

beforeAll(async () => {
  mock = await startSyncMock({ port: 0, limitPerSecond: RPS, latencyMs: 20 });
  plane = await startDataPlane();
  await plane.publish('local/quota', [{ name: 'quota', url: mock.fetchUrl, quota: { requestsPerSecond: RPS, burst: 5 } }]);
  for (let i = 0; i < 4; i++) await plane.startWorker('local/quota', { VF_CONCURRENCY: '20' });
}, 60_000);

afterAll(async () => {
  await plane?.stop();
  await mock?.close();
});

test('4 workers keep 20 rps in every rolling second and use ≥ 95 % of it', async () => {
  await submitMany(plane, 'quota', JOBS);
  await eventually('all jobs complete', async () => (await plane.counts('quota')).complete === JOBS, 90_000, 250);

  const c = mock.counters({ perKey: false });
  const busySeconds = (c.lastServedAt! - c.firstServedAt!) / 1000;
  // The most calls a strict 20-per-rolling-second vendor can take in that busy period.
  const allowed = RPS * (busySeconds + 1);
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
