// The system under load when `npm run loadtest` is given no --url: what `npm start` runs (a
// private Redis, the vendor mocks, the api on the SQLite store, the local controller with the
// workers of examples/vendorpools/), every program from dist/ as a child process, but on free
// ports and in a temp folder, so it never meets a running `npm start` or its data.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../testing/ports.js';
import { startProgram, type RunningProgram } from '../testing/programs.js';
import { startRedis } from '../testing/redis-server.js';

export interface LocalSystem {
  url: string;
  vendors: string[];
  stop(): Promise<void>;
}

/** POST until the api knows `vendor` (the local controller publishes the registry on start-up). */
async function waitForVendor(url: string, vendor: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ vendor, payload: { warmup: true } }),
    }).catch(() => undefined);
    if (res?.status === 202) return;
    if (Date.now() > deadline) throw new Error(`the api did not accept vendor "${vendor}" within ${timeoutMs} ms (last status ${res?.status})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function startLocalSystem(poolsSource = 'examples/vendorpools'): Promise<LocalSystem> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-loadtest-'));
  const programs: RunningProgram[] = [];
  const redis = await startRedis();
  const stop = async () => {
    for (const p of programs.reverse()) await p.stop(20_000);
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const [syncPort, asyncPort, apiPort, apiMetricsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const url = `http://127.0.0.1:${apiPort}`;
    // The example pools, pointed at this run's mock ports.
    const poolsDir = path.join(dir, 'vendorpools');
    await mkdir(poolsDir);
    for (const file of (await readdir(poolsSource)).filter((f) => f.endsWith('.yaml'))) {
      const text = await readFile(path.join(poolsSource, file), 'utf8');
      await writeFile(path.join(poolsDir, file), text.replaceAll('127.0.0.1:9101', `127.0.0.1:${syncPort}`).replaceAll('127.0.0.1:9102', `127.0.0.1:${asyncPort}`));
    }
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const common = { REDIS_URL: redis.url, LOG_LEVEL: 'warn', VF_SQLITE_PATH: path.join(dir, 'jobs.db') };
    programs.push(
      await startProgram(
        'mocks',
        'dist/vendor-mocks/main.js',
        { ...common, SYNC_MOCK_PORT: String(syncPort), ASYNC_MOCK_PORT: String(asyncPort), ASYNC_MOCK_WEBHOOK_SECRET: secret, ASYNC_MOCK_WEBHOOK_URL: `${url}/vendor-webhook/async` },
        { waitPort: asyncPort },
      ),
    );
    programs.push(
      await startProgram(
        'api',
        'dist/api/main.js',
        { ...common, PORT: String(apiPort), API_METRICS_PORT: String(apiMetricsPort), VF_SECRET_ASYNC_WEBHOOK_SECRET: secret },
        { waitPort: apiPort },
      ),
    );
    // Workers inherit this environment: the same store file, Redis and webhook base.
    programs.push(await startProgram('controller', 'dist/controller/local-main.js', { ...common, VF_POOLS_DIR: poolsDir, VF_WEBHOOK_BASE_URL: url }));
    const vendors = ['sync', 'async']; // the names in examples/vendorpools/
    for (const v of vendors) await waitForVendor(url, v);
    return { url, vendors, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
