// The api program: reads the environment once, wires the parts, listens, shuts down cleanly.
import { gracefulShutdown } from '../core/lifecycle.js';
import { createLogger } from '../core/logger.js';
import { startProbeServer } from '../core/probe-server.js';
import { RegistryView, VendorRegistry } from '../core/registry.js';
import { envSecrets, fileSecrets, firstOf } from '../core/secrets.js';
import { createJobStore } from '../core/store/index.js';
import { createApp } from './app.js';
import { parseApiConfig } from './config.js';
import { createApiMetrics } from './metrics.js';
import { createApiRedis, createSubscriberRedis } from './redis.js';
import { drain, listen } from './server.js';
import { vendorLookup } from './vendors.js';

const parsed = parseApiConfig(process.env);
if (!parsed.ok) {
  console.error(`vendorfetch api: invalid configuration\n${parsed.problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
const config = parsed.config;
const logger = createLogger('api', config.LOG_LEVEL);

async function main(): Promise<void> {
  // Start-up order: store, Redis, registry, then the listener; shutdown in reverse.
  const store = await createJobStore({ mongodbUrl: config.MONGODB_URL, mongoWriteConcern: config.VF_MONGODB_WRITE_CONCERN, mongoInsertBatch: config.VF_MONGODB_INSERT_BATCH, sqlitePath: config.VF_SQLITE_PATH, logger });
  const redis = await createApiRedis(config.REDIS_URL);
  const subscriber = await createSubscriberRedis(config.REDIS_URL);
  const registryView = new RegistryView(new VendorRegistry(redis), subscriber, undefined, {
    onError: (err) => logger.warn({ err }, 'vendor registry reload failed; keeping the last known vendors'),
  });
  await registryView.start();
  logger.info({ vendors: [...registryView.vendors().keys()] }, 'vendor registry loaded');

  const secrets = config.VF_SECRETS_DIR
    ? firstOf(fileSecrets(config.VF_SECRETS_DIR), envSecrets(process.env))
    : envSecrets(process.env);
  const lifecycle = { draining: false };
  const metrics = createApiMetrics({ processMetrics: true });
  const app = createApp({
    store,
    redis,
    registry: vendorLookup(registryView),
    secrets,
    logger,
    metrics,
    lifecycle,
    options: {
      defaultVendor: config.VF_DEFAULT_VENDOR,
      bodyLimit: config.VF_BODY_LIMIT,
      maxJsonDepth: config.VF_MAX_JSON_DEPTH,
      batchMaxJobs: config.VF_BATCH_MAX_JOBS,
      batchBodyLimit: config.VF_BATCH_BODY_LIMIT,
      apiKeys: config.VF_API_KEYS,
      adminApiKeys: config.VF_ADMIN_API_KEYS,
      clientRateLimit: config.VF_CLIENT_RATE_LIMIT,
      webhookRateLimit: config.VF_WEBHOOK_RATE_LIMIT,
      pendingTimeoutSeconds: config.VF_PENDING_TIMEOUT_SECONDS,
      trustProxy: config.VF_TRUST_PROXY,
      problemBaseUrl: config.VF_PROBLEM_BASE_URL,
      callbackClients: config.VF_CALLBACK_CLIENTS,
    },
  });

  const server = await listen(app, config.PORT, config.HOST);
  // Metrics on their own port (not behind the public ingress), bound like the api itself.
  const metricsServer = await startProbeServer({ port: config.API_METRICS_PORT, host: config.HOST, registry: metrics.registry });
  logger.info(
    { port: config.PORT, metrics_port: metricsServer.port, store: config.MONGODB_URL ? 'mongodb' : `sqlite:${config.VF_SQLITE_PATH}`, auth: config.VF_API_KEYS.length > 0, admin_routes: config.VF_ADMIN_API_KEYS.length > 0 },
    'api listening',
  );

  gracefulShutdown(logger, async () => {
    // No new connections; requests in flight get the grace period.
    lifecycle.draining = true;
    if (!(await drain(server, config.VF_SHUTDOWN_GRACE_SECONDS * 1000))) {
      logger.warn('shutdown grace period over: remaining connections were closed');
    }
    await metricsServer.close();
    await registryView.stop();
    await store.close().catch((err: unknown) => logger.warn({ err }, 'store close failed'));
    await Promise.allSettled([redis.quit(), subscriber.quit()]);
  }, (config.VF_SHUTDOWN_GRACE_SECONDS + 10) * 1000);
}

main().catch((err: unknown) => {
  logger.fatal({ err }, 'api failed to start');
  process.exit(1);
});
