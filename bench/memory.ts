// Benchmark (d): resident memory under load (issue 14, item 3), the figures behind the chart's
// requests and limits. Each program runs as its own process started from dist/, and its RSS is
// read from /proc (Linux) every 100 ms while the load lasts:
//   api:    200 connections of POST /jobs (as bench/ingest.ts), beside a bare node:http server
//           under the same load (bench/baselines/bare-http.ts);
//   worker: one worker at concurrency 50 working a backlog that outlasts the measurement (a
//           50 ms vendor, so all 50 slots stay busy), beside a BullMQ worker at concurrency 50
//           doing the same work (bench/baselines/bullmq-worker.ts).
// Peak is the kernel's high-water mark (VmHWM, start-up included); steady is the median RSS
// over the second half of the load. Every program (baselines too) is measured twice: with V8's
// default heap sizing, and with the sizing the image sets (NODE_OPTIONS in the Dockerfile). By default
// V8 sizes the heap from the machine's memory: on a 24 GB machine the api's young generation
// grew to 128 MB, and the worker's old generation to ~100 MB around a live heap of ~40 MB.
// Alone: `node dist/bench/memory.js` (BENCH_SECONDS sets the load's length, default 20).
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { JobStore } from '../core/job.js';
import { keys } from '../core/keys.js';
import { VendorRegistry } from '../core/registry.js';
import { createJobStore } from '../core/store/index.js';
import { vendorSpecSchema } from '../core/vendorpool.js';
import { freePort } from '../testing/ports.js';
import { startProgram, type RunningProgram } from '../testing/programs.js';
import { startRedis } from '../testing/redis-server.js';
import { postJobsLoad, round, sleep } from './support.js';

export interface Rss {
  peak_mb: number;
  steady_mb: number;
}

export interface MemoryFigures {
  /** NODE_OPTIONS every program of this row ran with ('' = V8's defaults). */
  node_options: string;
  seconds: number;
  api: Rss;
  bare_http: Rss;
  worker: Rss;
  bullmq_worker: Rss;
  /** Jobs/s the two workers completed while measured: context, not a throughput comparison (bench/pipeline.ts is). */
  worker_jobs_per_s: number;
  bullmq_jobs_per_s: number;
}

/** The V8 settings compared: the defaults, and a young generation of 2 × 8 MB with an old generation capped well inside a 512 MiB limit. */
export const NODE_OPTIONS_COMPARED = ['', '--max-semi-space-size=8 --max-old-space-size=256'];

const WORKER_CONCURRENCY = 50;
const VENDOR_LATENCY_MS = 50;

const kib = async (pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> => {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
};

/** Sample `program`'s RSS while `load` runs. */
async function measureWhile(program: RunningProgram, load: () => Promise<void>): Promise<Rss> {
  const pid = program.child.pid!;
  const samples: number[] = [];
  let running = true;
  const sampler = (async () => {
    while (running) {
      samples.push(await kib(pid, 'VmRSS'));
      await sleep(100);
    }
  })();
  await load();
  running = false;
  await sampler;
  const peak = await kib(pid, 'VmHWM');
  const steady = samples.slice(Math.floor(samples.length / 2)).sort((a, b) => a - b);
  return { peak_mb: round(peak / 1024), steady_mb: round(steady[Math.floor(steady.length / 2)]! / 1024) };
}

const post200 = (url: string, seconds: number) => postJobsLoad(url, seconds, 'mem');

async function createJobs(store: JobStore, vendor: string, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, () => randomUUID());
  const now = new Date();
  const deadline = new Date(now.getTime() + 3_600_000);
  // Batches of concurrent creates: the SQLite store commits each event-loop turn's creates together.
  for (let i = 0; i < n; i += 500) {
    await Promise.all(ids.slice(i, i + 500).map((id, j) => store.create({ request_id: id, vendor, payload: { q: `job ${i + j}` }, deadline_at: deadline }, now)));
  }
  return ids;
}

/** Jobs of `vendor` completed so far. */
const completed = async (store: JobStore, vendor: string) => (await store.countByStatus(vendor)).complete;

interface Setup {
  redisUrl: string;
  redis: Redis;
  dir: string;
  vendorUrl: string;
  seconds: number;
}

/**
 * One row: the four programs in turn, each started with `nodeOptions`, measured, stopped. Each
 * pass has a store file of its own, so a pass never works beside the previous one's leftovers.
 */
async function measureAll(setup: Setup, nodeOptions: string, pass: number): Promise<MemoryFigures> {
  const sqlitePath = path.join(setup.dir, `jobs-${pass}.db`);
  const s = { ...setup, sqlitePath, store: await createJobStore({ sqlitePath }) };
  const programs: RunningProgram[] = [];
  const start = async (name: string, script: string, env: NodeJS.ProcessEnv, port: number) => {
    const p = await startProgram(name, script, { ...env, NODE_OPTIONS: nodeOptions }, { waitPort: port });
    programs.push(p);
    return p;
  };
  try {
    const [barePort, apiPort, apiMetricsPort, workerMetricsPort, bullPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const common = { REDIS_URL: s.redisUrl, VF_SQLITE_PATH: s.sqlitePath, LOG_LEVEL: 'warn' };

    // The api, after its baseline: 2 s of warm-up, then the measured load.
    const measureServer = async (program: RunningProgram, url: string) => {
      await post200(url, 2);
      const rss = await measureWhile(program, async () => void (await post200(url, s.seconds)));
      await program.stop();
      return rss;
    };
    const bareHttp = await measureServer(await start('bare-http', 'dist/bench/baselines/bare-http.js', { PORT: String(barePort) }, barePort), `http://127.0.0.1:${barePort}/jobs`);
    const api = await measureServer(
      await start('api', 'dist/api/main.js', { ...common, PORT: String(apiPort), API_METRICS_PORT: String(apiMetricsPort) }, apiPort),
      `http://127.0.0.1:${apiPort}/jobs`,
    );

    // The workers: a backlog for longer than the measurement at the most a worker can do.
    const backlog = Math.ceil((1000 / VENDOR_LATENCY_MS) * WORKER_CONCURRENCY * (s.seconds + 5));
    const vendor = `mem-${pass}`;
    await new VendorRegistry(s.redis).publish('local/memory', [vendorSpecSchema.parse({ name: vendor, url: s.vendorUrl, quota: { requestsPerSecond: 100_000 } })]);
    const worker = await start(
      'worker',
      'dist/worker/main.js',
      { ...common, VF_POOL: 'local/memory', VF_CONCURRENCY: String(WORKER_CONCURRENCY), WORKER_METRICS_PORT: String(workerMetricsPort) },
      workerMetricsPort,
    );
    const ours = await createJobs(s.store, vendor, backlog);
    const batch = s.redis.pipeline();
    for (const id of ours) batch.xadd(keys.stream(vendor, 'normal'), '*', 'id', id);
    await batch.exec();
    let t0 = performance.now();
    const workerRss = await measureWhile(worker, () => sleep(s.seconds * 1000));
    const workerJobsPerS = (await completed(s.store, vendor)) / ((performance.now() - t0) / 1000);
    await worker.stop();

    const bull = await start(
      'bullmq-worker',
      'dist/bench/baselines/bullmq-worker.js',
      { ...common, VENDOR_URL: s.vendorUrl, CONCURRENCY: String(WORKER_CONCURRENCY), PORT: String(bullPort) },
      bullPort,
    );
    const theirs = await createJobs(s.store, `bull-${vendor}`, backlog);
    const url = new URL(s.redisUrl);
    const queue = new Queue('bench', { connection: { host: url.hostname, port: Number(url.port) } });
    try {
      await queue.addBulk(theirs.map((id) => ({ name: 'fetch', data: { id }, opts: { removeOnComplete: true } })));
      t0 = performance.now();
      const bullRss = await measureWhile(bull, () => sleep(s.seconds * 1000));
      const bullJobsPerS = (await completed(s.store, `bull-${vendor}`)) / ((performance.now() - t0) / 1000);
      await bull.stop();
      return {
        node_options: nodeOptions,
        seconds: s.seconds,
        api,
        bare_http: bareHttp,
        worker: workerRss,
        bullmq_worker: bullRss,
        worker_jobs_per_s: round(workerJobsPerS),
        bullmq_jobs_per_s: round(bullJobsPerS),
      };
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  } finally {
    for (const p of programs.reverse()) await p.stop();
    await s.store.close();
  }
}

export async function benchMemory(redisUrl: string, seconds: number): Promise<MemoryFigures[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-bench-memory-'));
  const redis = new Redis(redisUrl);
  let mock: RunningProgram | undefined;
  try {
    const mockPort = await freePort();
    mock = await startProgram(
      'mocks',
      'dist/vendor-mocks/main.js',
      { MOCKS_ONLY: 'sync', SYNC_MOCK_PORT: String(mockPort), SYNC_MOCK_KNOBS: JSON.stringify({ latencyMs: VENDOR_LATENCY_MS }), LOG_LEVEL: 'warn' },
      { waitPort: mockPort },
    );
    // The api's POST /jobs names vendor "mem", in a pool no worker serves: its jobs stay queued.
    await new VendorRegistry(redis).publish('local/memory-api', [vendorSpecSchema.parse({ name: 'mem', url: `http://127.0.0.1:${mockPort}/fetch`, quota: { requestsPerSecond: 100_000 } })]);
    const setup: Setup = { redisUrl, redis, dir, vendorUrl: `http://127.0.0.1:${mockPort}/fetch`, seconds };
    const rows: MemoryFigures[] = [];
    for (const [i, nodeOptions] of NODE_OPTIONS_COMPARED.entries()) rows.push(await measureAll(setup, nodeOptions, i));
    return rows;
  } finally {
    await mock?.stop();
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
}

export function printMemory(rows: MemoryFigures[]): void {
  const ratio = (a: Rss, b: Rss) => `${round(a.steady_mb / b.steady_mb, 2)}×`;
  console.table(
    rows.flatMap((m) => {
      const v8 = m.node_options || 'V8 defaults';
      return [
        { program: 'api, 200 connections POST /jobs', v8, 'peak MB': m.api.peak_mb, 'steady MB': m.api.steady_mb, baseline: 'bare node:http', 'baseline peak': m.bare_http.peak_mb, 'baseline steady': m.bare_http.steady_mb, ratio: ratio(m.api, m.bare_http), target: '≤ 150 MB', 'jobs/s': '' },
        { program: `worker, concurrency ${WORKER_CONCURRENCY}, backlog`, v8, 'peak MB': m.worker.peak_mb, 'steady MB': m.worker.steady_mb, baseline: 'BullMQ worker', 'baseline peak': m.bullmq_worker.peak_mb, 'baseline steady': m.bullmq_worker.steady_mb, ratio: ratio(m.worker, m.bullmq_worker), target: '≤ 150 MB', 'jobs/s': `${m.worker_jobs_per_s} (BullMQ ${m.bullmq_jobs_per_s})` },
      ];
    }),
  );
}

// Run alone: a private Redis, then the table.
if (process.argv[1]?.endsWith(path.join('bench', 'memory.js'))) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 20);
  const redis = await startRedis();
  try {
    console.log(`memory: RSS of the api under 200 connections and of a worker at concurrency ${WORKER_CONCURRENCY}, ${seconds} s each, V8 defaults then ${NODE_OPTIONS_COMPARED[1]}…`);
    printMemory(await benchMemory(redis.url, seconds));
  } finally {
    await redis.stop();
  }
}
