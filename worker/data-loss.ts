// Redis lost its data (a restart without persistence, a failover to an empty replica, a
// FLUSHALL): every stream entry is gone, and waiting for each pending job's deadline could take
// minutes. Detection and recovery, side by side, run before each sweep (worker.ts):
// - detection: an epoch key (keys.epoch), set once at random; missing means the data is gone,
//   and whichever worker notices first sets a new one. Every pool compares it with the epoch it
//   last recovered for (keys.recoveredEpoch), also in Redis, and recovers when they differ —
//   whichever worker set the new epoch, and even if that worker died since;
// - recovery: every pending job of the pool's vendors is queued again from the store, each
//   into its own priority lane.
// The sweeper (sweeper.ts) would find the same jobs, but only once they are overdue.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { JobStore } from '../core/job.js';
import { keys } from '../core/keys.js';
import type { Logger } from '../core/logger.js';
import * as queue from '../core/queue.js';
import type { VendorSpec } from '../core/vendorpool.js';
import type { WorkerMetrics } from './metrics.js';

/** How long one worker may take to re-queue a pool's jobs before another may start over. */
const RECOVERY_LOCK_MS = 15_000;
/** Most jobs re-queued per vendor in one recovery; the sweeper finds the rest once overdue. */
const RECOVERY_BATCH = 10_000;

export interface DataLossDeps {
  store: JobStore;
  redis: Redis;
  pool: string;
  /** The vendors this pool serves right now. */
  vendors: () => ReadonlyMap<string, VendorSpec>;
  /** Written into the recovery lock, so an operator can see which worker holds it. */
  holder: string;
  metrics: WorkerMetrics;
  logger: Logger;
  now?: () => number;
}

/** Recover the pool if Redis lost its data since it last recovered; one worker of the pool at a time. */
export async function recoverIfDataLost(d: DataLossDeps): Promise<void> {
  const { redis, pool } = d;
  await redis.set(keys.epoch, randomUUID(), 'NX');
  const epoch = await redis.get(keys.epoch);
  if (epoch === null || (await redis.get(keys.recoveredEpoch(pool))) === epoch) return;
  // Wait for the registry to come back too: recovery needs to know the pool's vendors.
  if (d.vendors().size === 0) return;
  if ((await redis.set(keys.recoveryLock(pool), d.holder, 'PX', RECOVERY_LOCK_MS, 'NX')) !== 'OK') return;
  await recoverLostQueue(d);
  // Only after the jobs are queued: a worker dying before this line leaves the recovery due.
  await redis.set(keys.recoveredEpoch(pool), epoch);
  await redis.del(keys.recoveryLock(pool));
}

/**
 * Queue every pending job of the pool's vendors again. Duplicates are harmless: the store
 * decides, per entry, whether there is work left.
 */
async function recoverLostQueue(d: Omit<DataLossDeps, 'pool' | 'holder'>): Promise<void> {
  const now = d.now ?? Date.now;
  // Every unfinished job has a deadline before "far ahead"; processing ones are left to their deadline.
  const farAhead = new Date(now() + 10 * 365 * 24 * 3600 * 1000);
  let queued = 0;
  for (const vendor of d.vendors().keys()) {
    const jobs = await d.store.findOverdue(farAhead, RECOVERY_BATCH, vendor);
    for (const job of jobs) {
      if (job.status !== 'pending') continue;
      // Still parked for its backoff (the delayed set survived: this was a pool's first start,
      // not a real loss): queuing it now would call the vendor before its backoff is over.
      if ((await d.redis.zscore(keys.delayed(vendor, job.priority), job.request_id)) !== null) continue;
      await queue.enqueue(d.redis, vendor, job.request_id, job.priority);
      d.metrics.swept.inc({ vendor, action: 'recover' });
      queued++;
    }
  }
  d.logger.warn({ queued }, 'Redis lost its data: pending jobs queued again from the store');
}
