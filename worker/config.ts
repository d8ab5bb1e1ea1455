// The worker's configuration: every environment variable it reads, parsed once by zod.
// Pure (takes the env as an argument); main.ts is the only caller that passes process.env.
import { z } from 'zod';
import { callbackClientsEnv } from '../core/callback-policy.js';
import { intWithDefault, logLevel, optionalUrl, parseEnv, type EnvResult } from '../core/env.js';
import { mongoInsertBatchEnv, mongoWriteConcernEnv } from '../core/store/index.js';

export const workerEnvSchema = z.object({
  /** Redis for streams, registry, quotas. Default redis://127.0.0.1:6379. */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  /** MongoDB job store; unset → embedded SQLite at VF_SQLITE_PATH. */
  MONGODB_URL: optionalUrl(/^mongodb(\+srv)?$/),
  /** MongoDB write concern of every write: `majority` or a number of members ≥ 1; overrides `w` in the URL. Default majority. */
  VF_MONGODB_WRITE_CONCERN: mongoWriteConcernEnv,
  /** Most new jobs per MongoDB insert command (group commit); 1 = one insert per job (default). See core/store/mongo.ts. */
  VF_MONGODB_INSERT_BATCH: mongoInsertBatchEnv,
  /** SQLite file used when MONGODB_URL is unset. Default .data/vendorfetch.db. */
  VF_SQLITE_PATH: z.string().min(1).default('.data/vendorfetch.db'),
  /** The pool whose vendors this worker serves: "namespace/name" (local mode "local/<name>"). Required. */
  VF_POOL: z.string().trim().regex(/^[a-z0-9-]+\/[a-z0-9-]+$/, 'must be "namespace/name"'),
  /** Jobs in flight in this process, across its vendors. Default 20. */
  VF_CONCURRENCY: intWithDefault(20, 1, 10_000),
  /** Port of /metrics and /healthz; 0 picks a free one. Default 8082. */
  WORKER_METRICS_PORT: intWithDefault(8082, 0, 65535),
  /** Public base of the api's webhook route; async vendors get callback_url=<base>/<vendor> (see callbackUrlFor). Default: none. */
  VF_WEBHOOK_BASE_URL: optionalUrl(/^https?$/),
  /**
   * Completion-callback clients, JSON `[{"apiKey": "...", "secret": "whsec_...", "allow": ["hooks.example.com", "*.example.org", "http://10.1.2.3", "10.0.0.0/8"]}]`:
   * the same value as the api's (secret: mount it from a Kubernetes Secret). Unset: no client is configured.
   */
  VF_CALLBACK_CLIENTS: callbackClientsEnv,
  /** Delivery attempts of a completion callback before it is dead-lettered. Default 8. */
  VF_CALLBACK_MAX_ATTEMPTS: intWithDefault(8, 1, 100),
  /** Deadline of one callback POST. Default 10000 ms. */
  VF_CALLBACK_TIMEOUT_MS: intWithDefault(10_000, 100, 120_000),
  /** Seconds a re-queued job may stay pending before the sweeper queues it again. Default 600 (as the api). */
  VF_PENDING_TIMEOUT_SECONDS: intWithDefault(600, 1, 86_400),
  /** Stream entries idle this long in a dead worker's PEL are reclaimed. Default 30000 ms. */
  VF_VISIBILITY_TIMEOUT_MS: intWithDefault(30_000, 100, 3_600_000),
  /** Added to a vendor's timeoutSeconds for the deadline of a job being called (time to store the answer). Default 5000 ms. */
  VF_CALL_MARGIN_MS: intWithDefault(5000, 0, 600_000),
  /** Sweeper period (one sweeper per pool at a time). Default 2000 ms. */
  VF_SWEEP_INTERVAL_MS: intWithDefault(2000, 50, 600_000),
  /** How long SIGTERM lets in-flight calls finish before aborting them. Default 10000 ms. */
  VF_DRAIN_TIMEOUT_MS: intWithDefault(10_000, 0, 600_000),
  /** Largest vendor answer read, in bytes; a longer one fails the call (vendor_answer_too_large). Default 4194304 (4 MiB). */
  VF_MAX_ANSWER_BYTES: intWithDefault(4 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  /** Seconds a job of a vendor that no pool serves may stay overdue before it is failed (vendor_unserved); 0: never. Default 86400 (24 h). */
  VF_UNSERVED_FAIL_AFTER_SECONDS: intWithDefault(86_400, 0, 365 * 86_400),
  /** Days a finished job (payload and result) is kept before retention deletes it. Default 7. */
  VF_RETENTION_DAYS: intWithDefault(7, 1, 3650),
  /** Hours an Idempotency-Key is remembered after its job was created. Default 24. */
  VF_IDEMPOTENCY_KEY_TTL_HOURS: intWithDefault(24, 1, 24 * 365),
  LOG_LEVEL: logLevel,
});

export type WorkerConfig = z.infer<typeof workerEnvSchema>;

export const parseWorkerConfig = (env: Record<string, string | undefined>): EnvResult<WorkerConfig> =>
  parseEnv(workerEnvSchema, env);
