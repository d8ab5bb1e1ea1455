// Redis loses everything mid-run (FLUSHALL): the local supervisor re-publishes the registry,
// workers re-create their consumer groups, the sweeper re-queues from the store, and every
// job still completes.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { keys } from '../../core/keys.js';
import { VendorRegistry } from '../../core/registry.js';
import { startSyncMock, type SyncMock } from '../../vendor-mocks/index.js';
import { eventually, startProgram, type RunningProgram } from '../../testing/programs.js';
import { startDataPlane, submitMany, type DataPlane } from './harness.js';

const JOBS = 300;
let plane: DataPlane;
let mock: SyncMock;
let supervisor: RunningProgram;
let poolsDir: string;

beforeAll(async () => {
  mock = await startSyncMock({ port: 0, latencyMs: 20 });
  plane = await startDataPlane({ VF_PENDING_TIMEOUT_SECONDS: '3' });
  poolsDir = await mkdtemp(path.join(os.tmpdir(), 'vf-pools-'));
  await writeFile(
    path.join(poolsDir, 'flush.yaml'),
    `apiVersion: vendorfetch.io/v1alpha1
kind: VendorPool
metadata: {name: flush}
spec:
  vendors:
    - name: flush
      url: ${mock.fetchUrl}
      timeoutSeconds: 2
      quota: {requestsPerSecond: 60, burst: 10}
  workers: {minReplicas: 2, maxReplicas: 2, concurrency: 10}
`,
  );
  supervisor = await startProgram('local', 'dist/controller/local-main.js', {
    ...plane.env,
    VF_POOLS_DIR: poolsDir,
    VF_LOCAL_TICK_MS: '500',
    VF_SWEEP_INTERVAL_MS: '500',
    VF_PENDING_TIMEOUT_SECONDS: '3',
  });
  await eventually('the supervisor publishes the pool', async () => (await new VendorRegistry(plane.redis).get('flush')) !== null, 30_000);
}, 60_000);

afterAll(async () => {
  await supervisor?.stop(25_000);
  await plane?.stop();
  await mock?.close();
  if (poolsDir) await rm(poolsDir, { recursive: true, force: true });
});

test('FLUSHALL mid-run: registry and consumer group come back, every job completes', async () => {
  await submitMany(plane, 'flush', JOBS);
  await eventually('some jobs complete', async () => (await plane.counts('flush')).complete >= 60, 60_000, 50);
  await plane.redis.flushall();
  const flushedAt = Date.now();

  await eventually('registry re-published', async () => (await new VendorRegistry(plane.redis).get('flush')) !== null, 30_000);
  await eventually('all jobs complete', async () => (await plane.counts('flush')).complete === JOBS, 120_000, 250);
  const groups = (await plane.redis.xinfo('GROUPS', keys.stream('flush', 'normal'))) as unknown[];
  console.log(`flushall e2e: all ${JOBS} jobs complete ${((Date.now() - flushedAt) / 1000).toFixed(1)} s after FLUSHALL`);
  expect(groups.length).toBe(1);
  expect(await plane.counts('flush')).toEqual({ pending: 0, processing: 0, complete: JOBS, failed: 0, cancelled: 0 });
}, 180_000);
