// The worker program as a user runs it (dist/worker/main.js, built by `npm test`): bad
// configuration, a job end to end through the real process, metrics, and SIGTERM.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startProgram } from '../testing/programs.js';
import { useRedisServer } from '../testing/use-redis-server.js';
import { enqueue } from '../core/queue.js';
import { VendorRegistry } from '../core/registry.js';
import { createSqliteJobStore } from '../core/store/sqlite.js';
import { vendorSpecSchema } from '../core/vendorpool.js';

const MAIN = path.resolve('dist/worker/main.js');

const server = useRedisServer();
let dir: string;

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" first (npm test does)`);
  dir = await mkdtemp(path.join(os.tmpdir(), 'vf-worker-main-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('bad configuration prints every problem and exits 1', () => {
  const r = spawnSync(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, VF_CONCURRENCY: 'lots', WORKER_METRICS_PORT: '-1' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain('invalid configuration');
  for (const key of ['VF_POOL', 'VF_CONCURRENCY', 'WORKER_METRICS_PORT']) expect(r.stderr).toContain(`${key}:`);
});

test('runs a job end to end, serves metrics, and stops cleanly on SIGTERM', async () => {
  const vendorServer = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: ' Bob ', password: 'x' })));
  });
  await new Promise<void>((r) => vendorServer.listen(0, '127.0.0.1', () => r()));
  const vendorUrl = `http://127.0.0.1:${(vendorServer.address() as AddressInfo).port}/fetch`;
  const sqlitePath = path.join(dir, 'jobs.db');
  const store = await createSqliteJobStore({ path: sqlitePath });
  const pool = 'local/main-test';
  await new VendorRegistry(server.redis).publish(pool, [
    vendorSpecSchema.parse({ name: 'bob', url: vendorUrl, quota: { requestsPerSecond: 100 } }),
  ]);
  const worker = await startProgram('worker', MAIN, {
    REDIS_URL: server.url,
    MONGODB_URL: '', // empty = unset: the SQLite file, even when the test run provides a MongoDB
    VF_SQLITE_PATH: sqlitePath,
    VF_POOL: pool,
    WORKER_METRICS_PORT: '0',
    VF_CONCURRENCY: '4',
  });
  try {
    const ready = await waitFor(() => worker.logs.find((l) => l.msg === 'worker ready'));
    const id = randomUUID();
    await store.create({ request_id: id, vendor: 'bob', payload: { q: 1 }, deadline_at: new Date(Date.now() + 60_000) }, new Date());
    await enqueue(server.redis, 'bob', id, 'normal');
    const job = await waitFor(async () => {
      const j = await store.get(id);
      return j?.status === 'complete' ? j : undefined;
    });
    expect(job.result).toEqual({ name: 'Bob' });
    const metrics = await (await fetch(`http://127.0.0.1:${String(ready.metrics_port)}/metrics`)).text();
    expect(metrics).toContain('vendorfetch_jobs_finished_total{vendor="bob",status="complete"} 1');
    expect(worker.logs.some((l) => l.level === 30 && typeof l.pool === 'string')).toBe(true);

    await worker.kill('SIGTERM');
    expect(worker.child.exitCode).toBe(0);
    expect(worker.logs.map((l) => l.msg)).toContain('stopped');
  } finally {
    await worker.stop();
    await store.close();
    await new Promise<void>((r) => vendorServer.close(() => r()));
  }
}, 30_000);

async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
