// Retention: what the store keeps, and for how long. Finished jobs (with their payloads and
// results) are deleted `finishedJobRetentionMs` after they finished (default 7 days), and
// Idempotency-Keys are forgotten `idempotencyKeyTtlMs` after their job was created (default
// 24 h, as the IETF draft suggests), so a key can be used again. Unfinished jobs are never
// deleted. One worker at a time across the whole system does it (a Redis lock that expires).
import type { Redis } from 'ioredis';
import type { JobStore } from '../core/job.js';
import { keys } from '../core/keys.js';
import type { Logger } from '../core/logger.js';
import type { WorkerMetrics } from './metrics.js';

export const DEFAULT_FINISHED_JOB_RETENTION_MS = 7 * 24 * 3600 * 1000;
export const DEFAULT_IDEMPOTENCY_KEY_TTL_MS = 24 * 3600 * 1000;
/** How often retention runs (and how long its lock is held). Default 60 s. */
export const DEFAULT_RETENTION_INTERVAL_MS = 60_000;

export interface RetentionDeps {
  store: JobStore;
  redis: Redis;
  /** Finished jobs are deleted this long after completed_at. Default 7 days. */
  finishedJobRetentionMs?: number;
  /** Idempotency-Keys are freed this long after their job's created_at. Default 24 h. */
  idempotencyKeyTtlMs?: number;
  /** Lock time: at most one pass per interval across all workers. Default 60 s. */
  intervalMs?: number;
  metrics: WorkerMetrics;
  logger: Logger;
  now?: () => number;
}

/** One retention pass if this worker gets the lock: how much it removed, or null (no lock). */
export async function retainOnce(d: RetentionDeps): Promise<{ jobsDeleted: number; keysExpired: number } | null> {
  const now = (d.now ?? Date.now)();
  const interval = d.intervalMs ?? DEFAULT_RETENTION_INTERVAL_MS;
  if ((await d.redis.set(keys.retentionLock, String(process.pid), 'PX', interval, 'NX')) !== 'OK') return null;
  const jobsDeleted = await d.store.deleteFinishedBefore(new Date(now - (d.finishedJobRetentionMs ?? DEFAULT_FINISHED_JOB_RETENTION_MS)));
  const keysExpired = await d.store.expireIdempotencyKeys(new Date(now - (d.idempotencyKeyTtlMs ?? DEFAULT_IDEMPOTENCY_KEY_TTL_MS)));
  if (jobsDeleted > 0) d.metrics.retention.inc({ what: 'finished_jobs' }, jobsDeleted);
  if (keysExpired > 0) d.metrics.retention.inc({ what: 'idempotency_keys' }, keysExpired);
  if (jobsDeleted + keysExpired > 0) d.logger.info({ jobs_deleted: jobsDeleted, keys_expired: keysExpired }, 'retention pass');
  return { jobsDeleted, keysExpired };
}
