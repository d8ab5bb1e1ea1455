// Benchmark: POST /jobs/batch beside single POST /jobs, in jobs stored and queued per second,
// on the embedded SQLite store and (when FerretDB is built) on the MongoDB wire. Why it exists:
// the batch route's case is one store write and one pipeline of XADDs per vendor for many jobs;
// this says what that buys on this machine.
//
// Jobs/s is counted where it matters — entries added to the vendor's stream (each accepted job
// is queued exactly once) over the load's duration — not from HTTP statuses, because a batch
// answers 200 even when some of its items failed.
// Run alone: `npm run bench:batch` (BENCH_SECONDS, default 10; BENCH_BATCH_SIZE, default 1000).
import { Redis } from 'ioredis';
import autocannon, { type Result } from 'autocannon';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_PRIORITY } from '../core/job.js';
import { keys } from '../core/keys.js';
import { VendorRegistry } from '../core/registry.js';
import { vendorSpecSchema } from '../core/vendorpool.js';
import { startStoreServer } from '../e2e/faults/store-server.js';
import { freePort } from '../testing/ports.js';
import { startProgram } from '../testing/programs.js';
import { startRedis } from '../testing/redis-server.js';
import { BENCH_PAYLOAD, ferretDbBinary, postJobsLoad, ratio, round } from './support.js';

const VENDOR = 'bench';
/** Batches in flight at once: enough to keep one api process busy without 200 × 1,000 jobs queued in it. */
const BATCH_CONNECTIONS = 4;

export interface BatchFigures {
  store: string;
  single_jobs_per_s: number;
  batch_jobs_per_s: number;
  batch_size: number;
  batch_p99_ms: number;
  /** Batch requests answered within the load (slow stores answer few: read p99 with it). */
  batches_answered: number;
  errors: number;
}

/** Jobs queued per second while `load` runs: the stream's growth over the load's duration (jobs without a priority: the normal lane). */
async function jobsPerSecond(redis: Redis, load: () => Promise<Result>): Promise<{ perSecond: number; r: Result }> {
  const before = await redis.xlen(keys.stream(VENDOR, DEFAULT_PRIORITY));
  const start = performance.now();
  const r = await load();
  const seconds = (performance.now() - start) / 1000;
  return { perSecond: ((await redis.xlen(keys.stream(VENDOR, DEFAULT_PRIORITY))) - before) / seconds, r };
}

async function measure(store: string, env: NodeJS.ProcessEnv, redis: Redis, seconds: number, batchSize: number): Promise<BatchFigures> {
  const port = await freePort();
  const api = await startProgram(`api (${store})`, 'dist/api/main.js', { ...env, PORT: String(port), LOG_LEVEL: 'warn' }, { waitPort: port });
  try {
    const base = `http://127.0.0.1:${port}`;
    const batchBody = JSON.stringify({ jobs: Array.from({ length: batchSize }, () => ({ vendor: VENDOR, payload: BENCH_PAYLOAD })) });
    const batchLoad = (duration: number) =>
      autocannon({ url: `${base}/jobs/batch`, method: 'POST', connections: BATCH_CONNECTIONS, duration, headers: { 'content-type': 'application/json' }, body: batchBody });
    await postJobsLoad(`${base}/jobs`, 1, VENDOR); // warm-up
    const single = await jobsPerSecond(redis, () => postJobsLoad(`${base}/jobs`, seconds, VENDOR));
    await batchLoad(1);
    const batch = await jobsPerSecond(redis, () => batchLoad(seconds));
    const errors = [single.r, batch.r].reduce((n, r) => n + r.errors + r.non2xx + r.timeouts, 0);
    return { store, single_jobs_per_s: single.perSecond, batch_jobs_per_s: batch.perSecond, batch_size: batchSize, batch_p99_ms: batch.r.latency.p99, batches_answered: batch.r['2xx'], errors };
  } finally {
    await api.stop();
  }
}

export async function benchBatch(redisUrl: string, seconds: number, batchSize = 1000): Promise<BatchFigures[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-bench-batch-'));
  const redis = new Redis(redisUrl);
  const figures: BatchFigures[] = [];
  try {
    await new VendorRegistry(redis).publish('local/bench', [
      vendorSpecSchema.parse({ name: VENDOR, url: 'http://127.0.0.1:9/fetch', quota: { requestsPerSecond: 100000 } }),
    ]);
    figures.push(await measure('SQLite', { REDIS_URL: redisUrl, VF_SQLITE_PATH: path.join(dir, 'jobs.db') }, redis, seconds, batchSize));
    const binary = await ferretDbBinary();
    if (!binary) console.log('batch: no FerretDB build (npm run testenv -- build): the MongoDB path is not measured');
    else {
      const server = await startStoreServer(binary, 'vf_bench_batch');
      try {
        figures.push(await measure('MongoDB wire (FerretDB v1)', { REDIS_URL: redisUrl, MONGODB_URL: server.url }, redis, seconds, batchSize));
      } finally {
        await server.close();
      }
    }
    return figures;
  } finally {
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
}

export function printBatch(rows: BatchFigures[]): void {
  console.table(
    rows.map((f) => ({
      store: f.store,
      'single POST /jobs jobs/s (200 conns)': round(f.single_jobs_per_s),
      [`POST /jobs/batch jobs/s (${BATCH_CONNECTIONS} conns)`]: round(f.batch_jobs_per_s),
      'batch of': f.batch_size,
      'batch p99 ms': round(f.batch_p99_ms),
      'batches answered': f.batches_answered,
      'batch vs single': ratio(f.batch_jobs_per_s, f.single_jobs_per_s),
      errors: f.errors,
    })),
  );
}

// Run alone: a private Redis, then the table.
if (process.argv[1]?.endsWith(path.join('bench', 'batch.js'))) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  const size = Number(process.env.BENCH_BATCH_SIZE ?? 1000);
  const redis = await startRedis();
  try {
    console.log(`batch: POST /jobs (200 connections) then POST /jobs/batch of ${size} (${BATCH_CONNECTIONS} connections), ${seconds} s each, per store…`);
    printBatch(await benchBatch(redis.url, seconds, size));
  } finally {
    await redis.stop();
  }
}
