// A whole data plane for one suite: private Redis, a SQLite store file, the api and worker
// processes from dist/ (as users run them), vendors registered in the registry.
import { Redis } from 'ioredis';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { JobStatus, JobStore } from '../../core/job.js';
import type { Counters } from '../../vendor-mocks/counters.js';
import { VendorRegistry } from '../../core/registry.js';
import { createJobStore } from '../../core/store/index.js';
import { vendorSpecSchema, type VendorSpec } from '../../core/vendorpool.js';
import { freePort } from '../../testing/ports.js';
import { startProgram, type RunningProgram } from '../../testing/programs.js';
import { startRedis, type RedisServer } from '../../testing/redis-server.js';

export interface DataPlane {
  redisServer: RedisServer;
  redis: Redis;
  store: JobStore;
  sqlitePath: string;
  apiUrl: string;
  api: RunningProgram;
  workers: RunningProgram[];
  /** Env every program of this plane shares. */
  env: NodeJS.ProcessEnv;
  startWorker(pool: string, env?: NodeJS.ProcessEnv): Promise<RunningProgram>;
  publish(pool: string, vendors: unknown[]): Promise<VendorSpec[]>;
  submit(vendor: string, payload: unknown): Promise<string>;
  counts(vendor: string): Promise<Record<JobStatus, number>>;
  stop(): Promise<void>;
}

export async function startDataPlane(env: NodeJS.ProcessEnv = {}): Promise<DataPlane> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-e2e-'));
  const redisServer = await startRedis();
  const redis = new Redis(redisServer.url);
  const sqlitePath = path.join(dir, 'jobs.db');
  const store = await createJobStore({ sqlitePath });
  // The embedded SQLite store, whatever MONGODB_URL the test environment exports (an
  // undefined value leaves the variable out of a child's environment).
  const shared: NodeJS.ProcessEnv = { REDIS_URL: redisServer.url, VF_SQLITE_PATH: sqlitePath, MONGODB_URL: undefined, ...env };
  const apiPort = await freePort();
  const apiMetricsPort = await freePort();
  const api = await startProgram(
    'api',
    (process.env.VF_E2E_DIST ?? 'dist') + '/api/main.js',
    { ...shared, PORT: String(apiPort), API_METRICS_PORT: String(apiMetricsPort) },
    { waitPort: apiPort },
  );
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const workers: RunningProgram[] = [];
  let workersStarted = 0; // names stay unique when workers start in parallel
  // Workers still starting: stop() waits for them, so one that comes up after a test failed
  // (a sibling start rejected, its Promise.all with it) is stopped too, not left running.
  const starting = new Set<Promise<RunningProgram>>();

  const plane: DataPlane = {
    redisServer,
    redis,
    store,
    sqlitePath,
    apiUrl,
    api,
    workers,
    env: shared,
    async startWorker(pool, extra = {}) {
      const port = await freePort();
      const start = startProgram(`worker-${workersStarted++}`, (process.env.VF_E2E_DIST ?? 'dist') + '/worker/main.js', { ...shared, VF_POOL: pool, WORKER_METRICS_PORT: String(port), ...extra }, { waitPort: port });
      starting.add(start);
      try {
        const w = await start;
        workers.push(w);
        return w;
      } finally {
        starting.delete(start);
      }
    },
    async publish(pool, vendors) {
      const specs = vendors.map((v) => vendorSpecSchema.parse(v));
      await new VendorRegistry(redis).publish(pool, specs);
      return specs;
    },
    async submit(vendor, payload) {
      // The api follows the registry through a cached view: a just-published vendor may take
      // one reload to appear, so 422 is retried briefly.
      for (let tries = 0; ; tries++) {
        const res = await fetch(`${apiUrl}/jobs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ vendor, payload }),
        });
        if (res.status === 202) return ((await res.json()) as { request_id: string }).request_id;
        if (res.status !== 422 || tries > 50) throw new Error(`POST /jobs → ${res.status} ${await res.text()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    counts: (vendor) => store.countByStatus(vendor),
    async stop() {
      await Promise.allSettled([...starting]);
      await Promise.all(workers.map((w) => w.stop()));
      await api.stop();
      await store.close();
      redis.disconnect();
      await redisServer.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return plane;
}

/** Submit n jobs with at most `parallel` requests open at once; returns their ids in order. */
export async function submitMany(plane: DataPlane, vendor: string, n: number, parallel = 20): Promise<string[]> {
  const ids: string[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        const i = next++;
        ids[i] = await plane.submit(vendor, { n: i, name: `  customer ${i}  ` });
      }
    }),
  );
  return ids;
}

/** A mock vendor in its own process (dist/vendor-mocks/main.js), as a real vendor would be. */
export interface MockProcess {
  url: string;
  fetchUrl: string;
  program: RunningProgram;
  /** GET /_counters?perKey=false */
  counters(): Promise<Counters>;
  stop(): Promise<void>;
}

/**
 * Starts the sync mock in a child process. Why not in the test process: the mock stamps each
 * arrival with its own clock, and the jest process (transpiling, polling the store, parsing the
 * workers' logs) stalls its event loop now and then; a stall delays the stamps of the calls
 * that arrive during it, which a strict rolling window reads as calls closer together than
 * they were sent.
 */
export async function startSyncMockProcess(knobs: Record<string, unknown>): Promise<MockProcess> {
  const port = await freePort();
  const program = await startProgram(
    'sync-mock',
    (process.env.VF_E2E_DIST ?? 'dist') + '/vendor-mocks/main.js',
    { MOCKS_ONLY: 'sync', SYNC_MOCK_PORT: String(port), SYNC_MOCK_KNOBS: JSON.stringify(knobs) },
    { waitPort: port },
  );
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    fetchUrl: `${url}/fetch`,
    program,
    async counters() {
      const res = await fetch(`${url}/_counters?perKey=false`);
      if (res.status !== 200) throw new Error(`GET /_counters → ${res.status} ${await res.text()}`);
      return (await res.json()) as Counters;
    },
    stop: () => program.stop(),
  };
}
