// Benchmark (a): POST /jobs on the durable path (store insert + XADD) at 200 connections,
// beside a bare Express 5 handler doing one awaited XADD — the ceiling for Express ingest.
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../testing/ports.js';
import { VendorRegistry } from '../core/registry.js';
import { vendorSpecSchema } from '../core/vendorpool.js';
import { startProgram } from '../testing/programs.js';

export interface IngestFigures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  ceiling_rps: number;
  ceiling_p99_ms: number;
  errors: number;
}

const load = (url: string, seconds: number) =>
  autocannon({
    url,
    method: 'POST',
    connections: 200,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ vendor: 'bench', payload: { query: 'acme corp', page: 1, filters: ['a', 'b'] } }),
  });

export async function benchIngest(redisUrl: string, seconds: number): Promise<IngestFigures> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-bench-ingest-'));
  const redis = new Redis(redisUrl);
  try {
    await new VendorRegistry(redis).publish('local/bench', [
      vendorSpecSchema.parse({ name: 'bench', url: 'http://127.0.0.1:9/fetch', quota: { requestsPerSecond: 100000 } }),
    ]);

    const ceilingPort = await freePort();
    const ceiling = await startProgram('ceiling', 'dist/bench/baselines/express-xadd.js', { REDIS_URL: redisUrl, PORT: String(ceilingPort), LOG_LEVEL: 'warn' }, { waitPort: ceilingPort });
    await load(`http://127.0.0.1:${ceilingPort}/jobs`, 2); // warm-up
    const base = await load(`http://127.0.0.1:${ceilingPort}/jobs`, seconds);
    await ceiling.stop();

    const apiPort = await freePort();
    const api = await startProgram(
      'api',
      'dist/api/main.js',
      { REDIS_URL: redisUrl, PORT: String(apiPort), VF_SQLITE_PATH: path.join(dir, 'jobs.db'), LOG_LEVEL: 'warn' },
      { waitPort: apiPort },
    );
    await load(`http://127.0.0.1:${apiPort}/jobs`, 2);
    const ours = await load(`http://127.0.0.1:${apiPort}/jobs`, seconds);
    await api.stop();

    return {
      rps: ours.requests.average,
      p50_ms: ours.latency.p50,
      p99_ms: ours.latency.p99,
      ceiling_rps: base.requests.average,
      ceiling_p99_ms: base.latency.p99,
      errors: ours.errors + ours.non2xx + ours.timeouts,
    };
  } finally {
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
}
