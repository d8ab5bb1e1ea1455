// The worker program: reads the environment once, wires the parts, runs, shuts down cleanly.
// Start-up: store → Redis → quota gate → worker (registry, consumers, timers) → probe server.
// Shutdown on SIGTERM/SIGINT in reverse: metrics stay up until the worker has drained.
import { gracefulShutdown } from '../core/lifecycle.js';
import { Redis } from 'ioredis';
import { createLogger } from '../core/logger.js';
import { startProbeServer } from '../core/probe-server.js';
import { RegistryView, VendorRegistry } from '../core/registry.js';
import { createJobStore } from '../core/store/index.js';
import { parseWorkerConfig } from './config.js';
import { createWorkerMetrics } from './metrics.js';
import { createQuotaGate } from './quota.js';
import { createWorker } from './worker.js';

const parsed = parseWorkerConfig(process.env);
if (!parsed.ok) {
  console.error(`vendorfetch worker: invalid configuration\n${parsed.problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
const config = parsed.config;
// Synchronous writes: a SIGKILLed worker's last lines (which jobs it completed) are not lost.
const logger = createLogger('worker', config.LOG_LEVEL, { sync: true }).child({ pool: config.VF_POOL });

async function main(): Promise<void> {
  const store = await createJobStore({
    mongodbUrl: config.MONGODB_URL,
    mongoWriteConcern: config.VF_MONGODB_WRITE_CONCERN,
    mongoInsertBatch: config.VF_MONGODB_INSERT_BATCH,
    sqlitePath: config.VF_SQLITE_PATH,
    // MongoDB also gets a TTL index where the server has them; retention passes run anyway.
    retentionSeconds: config.VF_RETENTION_DAYS * 24 * 3600,
    logger,
  });
  // Commands wait for a reconnect instead of failing after a few retries: a Redis restart
  // should pause the worker, not crash it (the loops log and retry).
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: true });
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  await redis.connect();
  const subscriber = redis.duplicate();
  // Its failures are the same outage the command connection reports above; once is enough.
  subscriber.on('error', (err) => logger.debug({ err: err.message }, 'redis subscriber connection error'));
  const quota = createQuotaGate(redis, { onError: (err) => logger.debug({ err }, 'quota gate: redis error (retrying)') });
  const metrics = createWorkerMetrics();
  const worker = createWorker({
    redis,
    registry: new RegistryView(new VendorRegistry(redis), subscriber, undefined, {
      onError: (err) => logger.warn({ err }, 'vendor registry reload failed; keeping the last known vendors'),
    }),
    store,
    quota,
    pool: config.VF_POOL,
    concurrency: config.VF_CONCURRENCY,
    metrics,
    logger,
    ...(config.VF_WEBHOOK_BASE_URL ? { webhookBaseUrl: config.VF_WEBHOOK_BASE_URL } : {}),
    callbackClients: config.VF_CALLBACK_CLIENTS,
    options: {
      callbacks: { maxAttempts: config.VF_CALLBACK_MAX_ATTEMPTS, timeoutMs: config.VF_CALLBACK_TIMEOUT_MS },
      pendingTimeoutMs: config.VF_PENDING_TIMEOUT_SECONDS * 1000,
      visibilityTimeoutMs: config.VF_VISIBILITY_TIMEOUT_MS,
      callMarginMs: config.VF_CALL_MARGIN_MS,
      sweepIntervalMs: config.VF_SWEEP_INTERVAL_MS,
      drainTimeoutMs: config.VF_DRAIN_TIMEOUT_MS,
      maxAnswerBytes: config.VF_MAX_ANSWER_BYTES,
      unservedFailAfterMs: config.VF_UNSERVED_FAIL_AFTER_SECONDS * 1000,
      finishedJobRetentionMs: config.VF_RETENTION_DAYS * 24 * 3600 * 1000,
      idempotencyKeyTtlMs: config.VF_IDEMPOTENCY_KEY_TTL_HOURS * 3600 * 1000,
    },
  });
  await worker.run();
  // /metrics and /healthz (the worker Deployment's probes) on WORKER_METRICS_PORT.
  const server = await startProbeServer({ port: config.WORKER_METRICS_PORT, registry: metrics.registry });
  logger.info(
    { metrics_port: server.port, concurrency: config.VF_CONCURRENCY, store: config.MONGODB_URL ? 'mongodb' : `sqlite:${config.VF_SQLITE_PATH}` },
    'worker ready',
  );

  gracefulShutdown(logger, async () => {
    // No new jobs; the ones in flight get the drain time, then are handed back.
    await worker.close();
    await quota.close().catch((err: unknown) => logger.warn({ err }, 'quota gate close failed'));
    await server.close();
    await store.close().catch((err: unknown) => logger.warn({ err }, 'store close failed'));
    await Promise.allSettled([redis.quit(), subscriber.quit()]);
  }, config.VF_DRAIN_TIMEOUT_MS + 10_000);
}

main().catch((err: unknown) => {
  logger.fatal({ err }, 'worker failed to start');
  process.exit(1);
});
