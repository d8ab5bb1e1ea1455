// Controller entry: `npm run controller` (node dist/controller/main.js). The only file of the
// Kubernetes controller that reads the environment. Start-up: config → Redis → health server →
// leader election; only the leader runs informers and reconciles. A leader that loses the lease
// stops reconciling at once and exits 1 (the Deployment restarts it as a candidate); SIGTERM
// releases the lease so a standby takes over within one retry period.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { logLevel, parseEnv } from '../core/env.js';
import { gracefulShutdown } from '../core/lifecycle.js';
import { createLogger } from '../core/logger.js';
import { startProbeServer } from '../core/probe-server.js';
import { VendorRegistry } from '../core/registry.js';
import { createController, type Controller } from './controller.js';
import { announceLeader } from './events.js';
import { loadRotatingKubeConfig } from './credentials.js';
import type { EnvSource } from './deployment.js';
import { createKubeClient } from './kube.js';
import { createLeaderElector, DEFAULT_TIMINGS, validateTimings } from './leader.js';
import { createControllerMetrics } from './metrics.js';
import { workerPodDefaultsSchema } from './worker-pod.js';

const secretRef = z
  .string()
  .regex(/^[a-z0-9][-a-z0-9.]*\/[-._a-zA-Z0-9]+$/, 'must be "<secret name>/<key>"')
  .transform((s): EnvSource => {
    const [name, key] = s.split('/') as [string, string];
    return { secretKeyRef: { name, key } };
  });

const envSchema = z.object({
  /** Default redis://127.0.0.1:6379. The controller's own connection (registry, lag). */
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** REDIS_URL the workers get; default: REDIS_URL. Or VF_WORKER_REDIS_SECRET "<secret>/<key>". */
  VF_WORKER_REDIS_URL: z.string().url().optional(),
  VF_WORKER_REDIS_SECRET: secretRef.optional(),
  /**
   * MONGODB_URL for workers (value, or VF_WORKER_MONGODB_SECRET "<secret>/<key>"). Required for
   * workers: unset → pools get Degraded/NoWorkerStore and no worker Deployment.
   */
  VF_WORKER_MONGODB_URL: z.string().min(1).optional(),
  VF_WORKER_MONGODB_SECRET: secretRef.optional(),
  /** The workers' VF_CALLBACK_CLIENTS (completion callbacks), from "<secret>/<key>". Unset: workers have no callback clients. */
  VF_WORKER_CALLBACK_CLIENTS_SECRET: secretRef.optional(),
  /**
   * Defaults of the worker pod settings a pool may override, as JSON with the fields of
   * spec.workers (imagePullSecrets, nodeSelector, tolerations, affinity,
   * topologySpreadConstraints, priorityClassName, logLevel, podDisruptionBudget) plus resources.
   * Default {}: the built-in defaults (requests 100m / 128Mi, memory limit 512Mi, log level
   * info, a PodDisruptionBudget with maxUnavailable 1).
   */
  VF_WORKER_POD_DEFAULTS: z
    .string()
    .default('{}')
    .transform((text, ctx) => {
      let json: unknown;
      try {
        json = JSON.parse(text || '{}');
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `not JSON: ${(err as Error).message}` });
        return z.NEVER;
      }
      const r = workerPodDefaultsSchema.safeParse(json);
      if (r.success) return r.data;
      for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: `${i.path.join('.') || '(root)'}: ${i.message}` });
      return z.NEVER;
    }),
  /** Worker image when a pool does not name one. */
  VF_WORKER_IMAGE: z.string().min(1).default('ghcr.io/vendorfetch/vendorfetch:latest'),
  VF_WEBHOOK_BASE_URL: z.string().url().optional(),
  /** Leader lease identity; default: hostname-pid. */
  POD_NAME: z.string().min(1).optional(),
  /** Namespace of the Lease; default: the service account's namespace, else "default". */
  POD_NAMESPACE: z.string().min(1).optional(),
  VF_LEASE_NAME: z.string().min(1).default('vendorfetch-controller'),
  /** client-go defaults: 15000 / 10000 / 2000 ms. */
  VF_LEASE_DURATION_MS: z.coerce.number().int().positive().default(DEFAULT_TIMINGS.leaseDurationMs),
  VF_RENEW_DEADLINE_MS: z.coerce.number().int().positive().default(DEFAULT_TIMINGS.renewDeadlineMs),
  VF_RETRY_PERIOD_MS: z.coerce.number().int().positive().default(DEFAULT_TIMINGS.retryPeriodMs),
  /** "false" runs without election (one replica only!). Default true. */
  VF_LEADER_ELECTION: z.enum(['true', 'false']).default('true'),
  /** How often each pool's lag is read and replicas adjusted. Default 5000 ms. */
  VF_LAG_POLL_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  /** Watch one namespace only; default all. */
  VF_WATCH_NAMESPACE: z.string().min(1).optional(),
  /** Health/metrics port; default 8081 (0: any free port). */
  METRICS_PORT: z.coerce.number().int().min(0).max(65_535).default(8081),
  METRICS_HOST: z.string().default('0.0.0.0'),
  /** How long shutdown may take before the process exits anyway. Default 10000 ms. */
  VF_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  LOG_LEVEL: logLevel,
});

const parsed = parseEnv(envSchema, process.env);
const problems = parsed.ok
  ? validateTimings({ leaseDurationMs: parsed.config.VF_LEASE_DURATION_MS, renewDeadlineMs: parsed.config.VF_RENEW_DEADLINE_MS, retryPeriodMs: parsed.config.VF_RETRY_PERIOD_MS })
  : parsed.problems;
if (!parsed.ok || problems.length > 0) {
  for (const p of problems) console.error(`invalid configuration: ${p}`);
  process.exit(1);
}
const env = parsed.config;
const logger = createLogger('controller', env.LOG_LEVEL);

function leaseNamespace(): string {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
  } catch {
    return 'default';
  }
}

// Credentials are resolved per request, so rotated service-account tokens and expiring exec or
// cloud tokens keep working (credentials.ts); the informers share the same KubeConfig.
const credentials = loadRotatingKubeConfig(process.env.KUBECONFIG);
const kc = credentials.kc;
const kube = createKubeClient(credentials);
const metrics = createControllerMetrics({ defaultMetrics: true });
const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 2 });
redis.on('error', (err: Error) => logger.debug({ err: err.message }, 'redis connection error'));
const identity = env.POD_NAME ?? `${os.hostname()}-${process.pid}`;

let controller: Controller | undefined;
function newController(): Controller {
  return createController({
    kc,
    kube,
    registry: new VendorRegistry(redis),
    redis,
    metrics,
    logger,
    lagPollMs: env.VF_LAG_POLL_MS,
    identity,
    ...(env.VF_WATCH_NAMESPACE ? { namespace: env.VF_WATCH_NAMESPACE } : {}),
    deployment: {
      defaultImage: env.VF_WORKER_IMAGE,
      redisUrl: env.VF_WORKER_REDIS_SECRET ?? { value: env.VF_WORKER_REDIS_URL ?? env.REDIS_URL },
      ...(env.VF_WORKER_MONGODB_SECRET
        ? { mongodbUrl: env.VF_WORKER_MONGODB_SECRET }
        : env.VF_WORKER_MONGODB_URL
          ? { mongodbUrl: { value: env.VF_WORKER_MONGODB_URL } }
          : {}),
      ...(env.VF_WEBHOOK_BASE_URL ? { webhookBaseUrl: env.VF_WEBHOOK_BASE_URL } : {}),
      ...(env.VF_WORKER_CALLBACK_CLIENTS_SECRET && 'secretKeyRef' in env.VF_WORKER_CALLBACK_CLIENTS_SECRET
        ? { callbackClients: env.VF_WORKER_CALLBACK_CLIENTS_SECRET }
        : {}),
      podDefaults: env.VF_WORKER_POD_DEFAULTS,
    },
  });
}

// Reverse order of start-up: stop reconciling, release the lease, close the rest.
const shutdown = gracefulShutdown(
  logger,
  async () => {
    await controller?.stop().catch(() => {});
    await elector?.stop().catch(() => {});
    await health.close().catch(() => {});
    redis.disconnect();
  },
  env.VF_SHUTDOWN_TIMEOUT_MS,
);

const health = await startProbeServer({
  port: env.METRICS_PORT,
  host: env.METRICS_HOST,
  registry: metrics.registry,
  readiness: async () => {
    const out: string[] = [];
    await redis.ping().catch(() => out.push('redis unreachable'));
    if (controller && !controller.synced()) out.push('caches not synced');
    return out;
  },
});

const startLeading = () => {
  metrics.leader.set(1);
  controller = newController();
  controller.start().catch((err: Error) => {
    logger.fatal({ err: err.message }, 'controller failed to start');
    shutdown(1, 'start failed');
  });
};

const elector =
  env.VF_LEADER_ELECTION === 'true'
    ? createLeaderElector({
        kube,
        namespace: leaseNamespace(),
        name: env.VF_LEASE_NAME,
        identity,
        logger,
        leaseDurationMs: env.VF_LEASE_DURATION_MS,
        renewDeadlineMs: env.VF_RENEW_DEADLINE_MS,
        retryPeriodMs: env.VF_RETRY_PERIOD_MS,
        onStartedLeading: () => {
          startLeading();
          // Events on the Lease and on every pool (best effort: they only inform people).
          void announceLeader(kube, {
            identity,
            lease: { namespace: leaseNamespace(), name: env.VF_LEASE_NAME },
            ...(env.VF_WATCH_NAMESPACE ? { namespace: env.VF_WATCH_NAMESPACE } : {}),
          }).then((errors) => {
            for (const err of errors) logger.warn({ err: err.message }, 'could not record a LeaderElected Event');
          });
        },
        onNewLeader: (holder) => logger.info({ leader: holder }, 'another replica leads'),
        onStoppedLeading: (reason) => {
          metrics.leader.set(0);
          if (reason === 'lost') {
            // Stop acting on a lease we may no longer hold: no further reconcile starts, and
            // the process exits so nothing in flight writes after the next leader begins.
            controller?.queue.shutdown();
            logger.error('leadership lost; exiting');
            process.exit(1);
          }
        },
      })
    : undefined;


logger.info(
  { identity, server: kube.server, healthPort: health.port, leaderElection: env.VF_LEADER_ELECTION, lagPollMs: env.VF_LAG_POLL_MS },
  'controller starting',
);
if (!env.VF_WORKER_MONGODB_URL && !env.VF_WORKER_MONGODB_SECRET) {
  // Not fatal (the pools say what is wrong, in their status and in Events), but loud.
  logger.error('no VF_WORKER_MONGODB_URL / VF_WORKER_MONGODB_SECRET: no worker Deployments will be made; every VendorPool gets Degraded=True (NoWorkerStore)');
}
if (elector) void elector.run();
else startLeading();
