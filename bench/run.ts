// `npm run bench`: both data-plane benchmarks on 127.0.0.1, bounded in time, each beside its
// baseline from the same run. Prints a table and writes bench/results/latest.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { startRedis } from '../testing/redis-server.js';
import { freePort } from '../testing/ports.js';
import { benchBatch, printBatch } from './batch.js';
import { benchIngest } from './ingest.js';
import { benchMemory, printMemory } from './memory.js';
import { benchOverhead, printOverhead } from './overhead.js';
import { benchPipeline } from './pipeline.js';
import { startProgram } from '../testing/programs.js';
import { round } from './support.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const jobs = Number(process.env.BENCH_JOBS ?? 5000);
const overheadSeconds = Number(process.env.BENCH_OVERHEAD_SECONDS ?? 30);

const redis = await startRedis();
const syncPort = await freePort();
const mock = await startProgram('mocks', 'dist/vendor-mocks/main.js', { SYNC_MOCK_PORT: String(syncPort), ASYNC_MOCK_PORT: String(await freePort()), LOG_LEVEL: 'warn' }, { waitPort: syncPort });
try {
  console.log(`ingest: 200 connections, ${seconds} s each (bare Express+XADD ceiling, then POST /jobs)…`);
  const ingest = await benchIngest(redis.url, seconds);
  console.log(`pipeline: ${jobs} jobs through vendorfetch workers, then through BullMQ…`);
  const pipeline = await benchPipeline(redis.url, `http://127.0.0.1:${syncPort}/fetch`, jobs);
  console.log(`overhead: 50 ms vendor, jobs at 10 / 50 / 90 % of its quota, ${overheadSeconds} s each…`);
  const overhead = await benchOverhead(redis.url, { seconds: overheadSeconds });
  console.log(`memory: RSS under load, ${seconds} s per program, V8 defaults then the image's sizing…`);
  const memory = await benchMemory(redis.url, seconds);
  console.log(`batch: POST /jobs/batch of 1000 beside single POST /jobs, ${seconds} s each…`);
  const batch = await benchBatch(redis.url, seconds);

  const results = {
    ingest: {
      rps: round(ingest.rps),
      p50_ms: round(ingest.p50_ms),
      p99_ms: round(ingest.p99_ms),
      ceiling_rps: round(ingest.ceiling_rps),
      limit_rps: round(ingest.limit_rps),
      mongo: ingest.mongo,
    },
    pipeline: { jobs_per_s: round(pipeline.jobs_per_s), bullmq_jobs_per_s: round(pipeline.bullmq_jobs_per_s) },
    overhead,
    memory,
    batch: batch.map((b) => ({ ...b, single_jobs_per_s: round(b.single_jobs_per_s), batch_jobs_per_s: round(b.batch_jobs_per_s), batch_p99_ms: round(b.batch_p99_ms) })),
  };
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/latest.json', JSON.stringify(results, null, 2) + '\n');

  const ratio = (a: number, b: number) => `${round(a / b, 2)}×`;
  console.table([
    { measure: 'ingest POST /jobs req/s', vendorfetch: results.ingest.rps, baseline: results.ingest.ceiling_rps, ratio: ratio(ingest.rps, ingest.ceiling_rps), target: '≥ 0.8×' },
    { measure: 'ingest vs node:http + pipelined XADD', vendorfetch: results.ingest.rps, baseline: results.ingest.limit_rps, ratio: ratio(ingest.rps, ingest.limit_rps), target: '≥ 0.5×' },
    { measure: 'ingest p50 ms', vendorfetch: results.ingest.p50_ms, baseline: '', ratio: '', target: '' },
    { measure: 'ingest p99 ms', vendorfetch: results.ingest.p99_ms, baseline: round(ingest.ceiling_p99_ms), ratio: '', target: '≤ 50 ms' },
    { measure: 'ingest errors', vendorfetch: ingest.errors, baseline: '', ratio: '', target: '0' },
    { measure: 'pipeline jobs/s', vendorfetch: results.pipeline.jobs_per_s, baseline: results.pipeline.bullmq_jobs_per_s, ratio: ratio(pipeline.jobs_per_s, pipeline.bullmq_jobs_per_s), target: '≥ 1.0× BullMQ' },
  ]);
  printOverhead(overhead);
  printMemory(memory);
  printBatch(batch);
  console.log('wrote bench/results/latest.json');
} finally {
  await mock.stop();
  await redis.stop();
}
