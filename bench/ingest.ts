// Benchmark (a): POST /jobs on the durable path (store insert + XADD) at 200 connections, on
// both stores, each beside the ceilings that bound it, all from the same run:
// - the limit: bare node:http, XADDs pipelined per turn, no framework, no store
//   (baselines/http-xadd.ts) — how far the product is from what this machine can do;
// - a bare Express 5 handler doing one awaited XADD (baselines/express-xadd.ts);
// - vendorfetch on the embedded SQLite store (the default);
// - when FerretDB is built (`npm run testenv -- build`): the raw driver's insertMany by 100 of
//   the same documents (mongo-ceiling.ts), then vendorfetch on that server.
// Prints its own table with the ratios (benchmarks print, they do not assert) and returns the
// figures; run.ts prints and records the SQLite ones.
import { Redis } from 'ioredis';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startStoreServer } from '../e2e/faults/store-server.js';
import { VendorRegistry } from '../core/registry.js';
import { vendorSpecSchema } from '../core/vendorpool.js';
import { freePort } from '../testing/ports.js';
import { startProgram } from '../testing/programs.js';
import { startRedis } from '../testing/redis-server.js';
import { insertManyCeiling } from './mongo-ceiling.js';
import { BENCH_PAYLOAD, ferretDbBinary, postJobsLoad, ratio, round, withCpuShare, withPeakRss } from './support.js';

/** One HTTP program under load. */
export interface LoadFigures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  peak_rss_mib: number | undefined;
}

export interface IngestFigures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  /** Express 5 + one awaited XADD. */
  ceiling_rps: number;
  ceiling_p99_ms: number;
  errors: number;
  /** node:http + XADDs pipelined per turn: the physical limit. */
  limit_rps: number;
  /** Absent when no FerretDB is built. */
  mongo?: LoadFigures & {
    insert_many_docs_per_s: number;
    /** Share of a core the store server used during the ceiling run and during the api's load. */
    store_cpu_ceiling: number | undefined;
    store_cpu_api: number | undefined;
  };
}

/** Issue 14: a published Express + Mongoose + Redis Streams implementation on the same FerretDB, same machine. */
const PUBLISHED_TS_ON_FERRETDB_RPS = 618;

const load = (url: string, seconds: number) => postJobsLoad(url, seconds, 'bench');

/** Start a program from dist/, warm it up for 2 s, load it for `seconds`, stop it. */
async function loadProgram(name: string, script: string, env: NodeJS.ProcessEnv, seconds: number, storePid?: number): Promise<LoadFigures & { store_cpu: number | undefined }> {
  const port = await freePort();
  const program = await startProgram(name, script, { ...env, PORT: String(port), LOG_LEVEL: 'warn' }, { waitPort: port });
  try {
    const url = `http://127.0.0.1:${port}/jobs`;
    await load(url, 2);
    const { result: loaded, cpuShare } = await withCpuShare(storePid, withPeakRss(program.child.pid, load(url, seconds)));
    const { result: r, peakRssMiB } = loaded;
    return { rps: r.requests.average, p50_ms: r.latency.p50, p99_ms: r.latency.p99, errors: r.errors + r.non2xx + r.timeouts, peak_rss_mib: peakRssMiB, store_cpu: cpuShare };
  } finally {
    await program.stop();
  }
}

/** The MongoDB path on a private FerretDB: the raw insertMany ceiling, then the api on it. */
async function benchMongo(redisUrl: string, seconds: number): Promise<IngestFigures['mongo']> {
  const binary = await ferretDbBinary();
  if (!binary) {
    console.log('ingest: no FerretDB build (npm run testenv -- build): the MongoDB path is not measured');
    return undefined;
  }
  const server = await startStoreServer(binary, 'vf_bench_api');
  try {
    const ceiling = await insertManyCeiling(server.url, 'vf_bench_ceiling', BENCH_PAYLOAD, seconds, server.pid);
    const { store_cpu, ...api } = await loadProgram('api (MongoDB)', 'dist/api/main.js', { REDIS_URL: redisUrl, MONGODB_URL: server.url }, seconds, server.pid);
    return { ...api, insert_many_docs_per_s: ceiling.docs_per_s, store_cpu_ceiling: ceiling.server_cpu_share, store_cpu_api: store_cpu };
  } finally {
    await server.close();
  }
}

function printTable(limit: LoadFigures, express: LoadFigures, sqlite: LoadFigures, mongo: IngestFigures['mongo']): void {
  const row = (system: string, f: LoadFigures, vsCeiling = '', target = ''): Record<string, string | number> => ({
    system,
    'req/s': round(f.rps),
    'p50 ms': round(f.p50_ms),
    'p99 ms': round(f.p99_ms),
    errors: f.errors,
    'RSS MiB': f.peak_rss_mib === undefined ? '' : round(f.peak_rss_mib),
    'vs limit': ratio(f.rps, limit.rps),
    'vs ceiling': vsCeiling,
    target,
  });
  const rows = [
    row('limit: node:http + XADD pipelined per turn', limit),
    row('Express 5 + one XADD', express),
    row('vendorfetch api, SQLite', sqlite, `${ratio(sqlite.rps, express.rps)} Express`, '≥ 0.5× limit'),
  ];
  if (mongo) {
    const docs = mongo.insert_many_docs_per_s;
    rows.push(
      { system: 'ceiling: raw insertMany ×100 (docs/s)', 'req/s': round(docs) },
      row(
        'vendorfetch api, MongoDB wire (FerretDB v1)',
        mongo,
        `${ratio(mongo.rps, docs)} insertMany; ${ratio(mongo.rps, PUBLISHED_TS_ON_FERRETDB_RPS)} of 618 req/s`,
        '≥ 0.8× insertMany; ≥ 3× 618',
      ),
    );
  }
  console.table(rows);
  // The store server shares the two cores with the load generator, the api and Redis during the
  // api's run, not during the ceiling's: its CPU share says how much of the gap is that.
  if (mongo?.store_cpu_ceiling && mongo.store_cpu_api) {
    const perCpu = (rate: number, share: number) => round(rate / share);
    console.log(
      `MongoDB wire: FerretDB used ${round(mongo.store_cpu_ceiling * 100)} % of a core for the ceiling, ${round(mongo.store_cpu_api * 100)} % under the api's load; ` +
        `jobs per FerretDB CPU-second: ceiling ${perCpu(mongo.insert_many_docs_per_s, mongo.store_cpu_ceiling)}, api ${perCpu(mongo.rps, mongo.store_cpu_api)} ` +
        `(${ratio(mongo.rps / mongo.store_cpu_api, mongo.insert_many_docs_per_s / mongo.store_cpu_ceiling)})`,
    );
  }
}

export async function benchIngest(redisUrl: string, seconds: number): Promise<IngestFigures> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-bench-ingest-'));
  const redis = new Redis(redisUrl);
  try {
    await new VendorRegistry(redis).publish('local/bench', [
      vendorSpecSchema.parse({ name: 'bench', url: 'http://127.0.0.1:9/fetch', quota: { requestsPerSecond: 100000 } }),
    ]);
    const limit = await loadProgram('limit', 'dist/bench/baselines/http-xadd.js', { REDIS_URL: redisUrl }, seconds);
    const express = await loadProgram('ceiling', 'dist/bench/baselines/express-xadd.js', { REDIS_URL: redisUrl }, seconds);
    const sqlite = await loadProgram('api (SQLite)', 'dist/api/main.js', { REDIS_URL: redisUrl, VF_SQLITE_PATH: path.join(dir, 'jobs.db') }, seconds);
    const mongo = await benchMongo(redisUrl, seconds);
    printTable(limit, express, sqlite, mongo);
    return {
      rps: sqlite.rps,
      p50_ms: sqlite.p50_ms,
      p99_ms: sqlite.p99_ms,
      ceiling_rps: express.rps,
      ceiling_p99_ms: express.p99_ms,
      errors: sqlite.errors,
      limit_rps: limit.rps,
      ...(mongo ? { mongo } : {}),
    };
  } finally {
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
}

// Run alone (`npm run bench:ingest`): a private Redis, then the table.
if (process.argv[1]?.endsWith(path.join('bench', 'ingest.js'))) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  const redis = await startRedis();
  try {
    console.log(`ingest: 200 connections, ${seconds} s each: the physical limit, Express + XADD, the api on SQLite, then on the MongoDB wire beside raw insertMany…`);
    await benchIngest(redis.url, seconds);
  } finally {
    await redis.stop();
  }
}
