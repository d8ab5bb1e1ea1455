// Benchmark (b): end-to-end jobs/s through the workers — an instant mock vendor, a quota far
// above what the machine can do — beside a BullMQ pipeline doing the same vendor call and
// store write. Both read the same pre-created jobs; the clock runs from queueing the first job
// until the store holds every answer.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { JobStore } from '../core/job.js';
import { keys } from '../core/keys.js';
import { VendorRegistry } from '../core/registry.js';
import { createJobStore } from '../core/store/index.js';
import { vendorSpecSchema } from '../core/vendorpool.js';
import { freePort } from '../testing/ports.js';
import { startProgram, type RunningProgram } from '../testing/programs.js';
import { sleep } from './support.js';

export interface PipelineFigures {
  jobs: number;
  jobs_per_s: number;
  bullmq_jobs_per_s: number;
}

const CONCURRENCY = 50;

async function createJobs(store: JobStore, vendor: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  const now = new Date();
  for (let i = 0; i < n; i++) {
    const id = randomUUID();
    await store.create({ request_id: id, vendor, payload: { q: `job ${i}` }, deadline_at: new Date(now.getTime() + 3_600_000) }, now);
    ids.push(id);
  }
  return ids;
}

/**
 * Warm the shared mock vendor (its JIT, its sockets) before either pipeline is timed. Without
 * this the first pipeline measured (vendorfetch's) paid for the vendor process' warm-up alone,
 * which cost it up to a tenth of its figure in short runs. Both workers still start cold.
 */
async function warmVendor(vendorUrl: string, calls: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < calls) {
      const i = next++;
      const res = await fetch(vendorUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ request_id: `warm-${i}`, payload: { q: `warm ${i}` } }),
      });
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
}

async function untilComplete(store: JobStore, vendor: string, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await store.countByStatus(vendor)).complete < n) {
    if (Date.now() > deadline) throw new Error(`pipeline did not finish ${n} jobs within ${timeoutMs} ms`);
    await sleep(20);
  }
}

export async function benchPipeline(redisUrl: string, vendorUrl: string, jobs: number): Promise<PipelineFigures> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-bench-pipeline-'));
  const sqlitePath = path.join(dir, 'jobs.db');
  const redis = new Redis(redisUrl);
  const store = await createJobStore({ sqlitePath });
  let worker: RunningProgram | undefined;
  try {
    // vendorfetch: the real worker program serving one pool.
    await new VendorRegistry(redis).publish('local/bench', [
      vendorSpecSchema.parse({ name: 'pipe', url: vendorUrl, quota: { requestsPerSecond: 100000 }, timeoutSeconds: 30 }),
    ]);
    const ours = await createJobs(store, 'pipe', jobs);
    await warmVendor(vendorUrl, 2000);
    const metricsPort = await freePort();
    worker = await startProgram(
      'worker',
      'dist/worker/main.js',
      { REDIS_URL: redisUrl, VF_POOL: 'local/bench', VF_CONCURRENCY: String(CONCURRENCY), WORKER_METRICS_PORT: String(metricsPort), VF_SQLITE_PATH: sqlitePath, LOG_LEVEL: 'warn' },
      { waitPort: metricsPort },
    );
    let t0 = performance.now();
    const batch = redis.pipeline();
    for (const id of ours) batch.xadd(keys.stream('pipe', 'normal'), '*', 'id', id);
    await batch.exec();
    await untilComplete(store, 'pipe', jobs, 120_000);
    const jobsPerS = jobs / ((performance.now() - t0) / 1000);
    await worker.stop();
    worker = undefined;

    // BullMQ: the same work in its own worker process.
    const theirs = await createJobs(store, 'bull', jobs);
    const readyPort = await freePort();
    worker = await startProgram(
      'bullmq-worker',
      'dist/bench/baselines/bullmq-worker.js',
      { REDIS_URL: redisUrl, VENDOR_URL: vendorUrl, VF_SQLITE_PATH: sqlitePath, CONCURRENCY: String(CONCURRENCY), PORT: String(readyPort), LOG_LEVEL: 'warn' },
      { waitPort: readyPort },
    );
    const url = new URL(redisUrl);
    const queue = new Queue('bench', { connection: { host: url.hostname, port: Number(url.port) } });
    t0 = performance.now();
    await queue.addBulk(theirs.map((id) => ({ name: 'fetch', data: { id }, opts: { removeOnComplete: true } })));
    await untilComplete(store, 'bull', jobs, 120_000);
    const bullPerS = jobs / ((performance.now() - t0) / 1000);
    await queue.close();

    return { jobs, jobs_per_s: jobsPerS, bullmq_jobs_per_s: bullPerS };
  } finally {
    await worker?.stop();
    await store.close();
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
}
