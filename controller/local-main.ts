// Local mode entry: `node dist/controller/local-main.js`. Reads VendorPool YAML files from a
// folder and runs worker child processes for them (local.ts, worker-processes.ts). The only place that reads
// the environment for local mode.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { logLevel, parseEnv } from '../core/env.js';
import { gracefulShutdown } from '../core/lifecycle.js';
import { createLogger } from '../core/logger.js';
import { VendorRegistry } from '../core/registry.js';
import { createLocalSupervisor } from './local.js';
import { workerSpawner } from './worker-processes.js';

const here = path.dirname(fileURLToPath(import.meta.url));

const envSchema = z.object({
  /** Default redis://127.0.0.1:6379. */
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** Folder of VendorPool YAML files. Default examples/vendorpools. */
  VF_POOLS_DIR: z.string().min(1).default('examples/vendorpools'),
  /** Worker entry. Default: the compiled worker beside this file (dist/worker/main.js). */
  VF_WORKER_ENTRY: z.string().min(1).default(path.resolve(here, '../worker/main.js')),
  /** Re-read files, re-publish the registry, measure lag every N ms. Default 2000. */
  VF_LOCAL_TICK_MS: z.coerce.number().int().min(100).max(60_000).default(2000),
  /** First worker metrics port (each child gets the next). Unset: an ephemeral port each. */
  WORKER_METRICS_BASE_PORT: z.coerce.number().int().min(1).max(65_000).optional(),
  /** How long shutdown waits for workers before SIGKILL. Default 20000 ms. */
  VF_STOP_TIMEOUT_MS: z.coerce.number().int().min(0).default(20_000),
  LOG_LEVEL: logLevel,
});

const parsed = parseEnv(envSchema, process.env);
if (!parsed.ok) {
  for (const p of parsed.problems) console.error(`invalid configuration: ${p}`);
  process.exit(1);
}
const env = parsed.config;
const logger = createLogger('controller-local', env.LOG_LEVEL);

// Fail commands fast while Redis is down: the supervisor keeps its workers and retries next tick.
const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 2, lazyConnect: false });
redis.on('error', (err: Error) => logger.debug({ err: err.message }, 'redis connection error'));

const supervisor = createLocalSupervisor({
  poolsDir: env.VF_POOLS_DIR,
  redis,
  registry: new VendorRegistry(redis),
  logger,
  tickMs: env.VF_LOCAL_TICK_MS,
  stopTimeoutMs: env.VF_STOP_TIMEOUT_MS,
  // Workers inherit the whole environment (REDIS_URL, MONGODB_URL, VF_WEBHOOK_BASE_URL,
  // VF_SECRET_*, LOG_LEVEL) and get their pool's VF_POOL / VF_CONCURRENCY on top.
  spawnWorker: workerSpawner({
    node: process.execPath,
    entry: env.VF_WORKER_ENTRY,
    env: { ...process.env, REDIS_URL: env.REDIS_URL },
    ...(env.WORKER_METRICS_BASE_PORT !== undefined ? { metricsBasePort: env.WORKER_METRICS_BASE_PORT } : {}),
  }),
});

const shutdown = gracefulShutdown(
  logger,
  async () => {
    await supervisor.stop();
    redis.disconnect();
  },
  env.VF_STOP_TIMEOUT_MS + 5000,
);

logger.info({ redis: env.REDIS_URL.replace(/\/\/[^@]*@/, '//***@'), dir: env.VF_POOLS_DIR, worker: env.VF_WORKER_ENTRY }, 'local controller starting');
supervisor.start().catch((err: unknown) => {
  logger.fatal({ err: (err as Error).message }, 'local controller failed');
  shutdown(1, 'start failed');
});
