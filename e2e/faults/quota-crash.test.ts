// Fault: workers SIGKILLed again and again while they call a vendor at its full quota (issue
// 10, item 13). The vendor (the sync mock, in its own process) stamps every call with its own
// clock; it must never see more than requestsPerSecond calls in any rolling second, kills or
// not. A killed worker cannot settle the grants of calls it had in flight (worker/quota.ts:
// settle() moves a grant's log entry to when the vendor may at the latest have seen its call),
// so the gate itself must keep such a grant counted until its call can no longer arrive.
import { eventually, type RunningProgram } from '../../testing/programs.js';
import { startDataPlane, startSyncMockProcess, submitMany, type DataPlane, type MockProcess } from '../dataplane/harness.js';
import { settlementProblems } from './support.js';

const RPS = 25;
const BURST = 5;
const WORKERS = 4;
const JOBS = 600; // ~24 s at 25 rps
const KILLS = 10;
// A call takes 300 ms at the vendor: every worker has several calls open when it is killed.
const LATENCY_MS = 300;
// Short timers: a dead worker's jobs come back within seconds.
const workerEnv = { VF_CONCURRENCY: '20', VF_VISIBILITY_TIMEOUT_MS: '3000', VF_SWEEP_INTERVAL_MS: '500', VF_CALL_MARGIN_MS: '500' };

let plane: DataPlane | undefined;
let mock: MockProcess | undefined;

afterAll(async () => {
  await plane?.stop();
  await mock?.stop();
});

test(`workers SIGKILLed ${KILLS} times mid-run: the vendor never sees more than ${RPS} calls in any rolling second`, async () => {
  // No limit at the mock: it serves every call and measures the busiest rolling second exactly.
  mock = await startSyncMockProcess({ latencyMs: LATENCY_MS });
  plane = await startDataPlane({ VF_PENDING_TIMEOUT_SECONDS: '5' });
  const p = plane;
  await p.publish('local/killq', [{ name: 'killq', url: mock.fetchUrl, timeoutSeconds: 2, quota: { requestsPerSecond: RPS, burst: BURST } }]);
  const ids = await submitMany(p, 'killq', JOBS);
  const live: RunningProgram[] = await Promise.all(Array.from({ length: WORKERS }, () => p.startWorker('local/killq', workerEnv)));

  // Kill one worker at a time, at a random moment, and start a fresh one in its place, so the
  // pool stays busy (the quota fully used) while grants are left unsettled again and again.
  await eventually('the vendor is busy', async () => (await mock!.counters()).served >= 2 * RPS, 30_000, 50);
  for (let k = 0; k < KILLS; k++) {
    await new Promise((r) => setTimeout(r, 800 + Math.random() * 800));
    const victim = live.splice(Math.floor(Math.random() * live.length), 1)[0]!;
    await victim.kill('SIGKILL');
    live.push(await p.startWorker('local/killq', workerEnv));
  }

  await eventually('all jobs complete', async () => (await p.counts('killq')).complete === JOBS, 120_000, 250);
  const c = await mock.counters();
  console.log(`quota under kills: ${c.served} calls, max ${c.maxRateInAnyRollingSecond} in any rolling second (quota ${RPS}), ${KILLS} kills`);
  expect(c.maxRateInAnyRollingSecond).toBeLessThanOrEqual(RPS);
  expect(await settlementProblems(p.store, ids, p.workers)).toEqual([]);
}, 240_000);
