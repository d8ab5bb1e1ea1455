// The sweeper makes the store the source of truth: every few seconds ONE worker of the pool
// (a Redis lock, SET NX PX, that simply expires) looks for unfinished jobs past their deadline
// and queues them again, retries them, or fails them (decideOverdue). So a job survives a
// Redis that lost everything, an api that died between store and queue, a dead worker, and a
// webhook that never came.
import type { Redis } from 'ioredis';
import type { JobStore } from '../core/job.js';
import { keys } from '../core/keys.js';
import type { Logger } from '../core/logger.js';
import * as queue from '../core/queue.js';
import type { VendorSpec } from '../core/vendorpool.js';
import { decideOverdue } from './decide.js';
import type { WorkerMetrics } from './metrics.js';

export interface SweeperDeps {
  store: JobStore;
  redis: Redis;
  pool: string;
  /** The vendors this pool serves right now. */
  vendors: () => ReadonlyMap<string, VendorSpec>;
  /** New deadline of a job queued again (how long it may stay pending). */
  pendingTimeoutMs: number;
  /** How long the lock is held: at most one sweep per interval across the pool. */
  intervalMs: number;
  /** Most jobs looked at per sweep. */
  batch?: number;
  metrics: WorkerMetrics;
  logger: Logger;
  now?: () => number;
}

/** One sweep if this worker gets the lock. Returns how many jobs it handled (null: no lock). */
export async function sweepOnce(d: SweeperDeps): Promise<number | null> {
  const now = d.now ?? Date.now;
  const got = await d.redis.set(keys.sweeperLock(d.pool), String(process.pid), 'PX', d.intervalMs, 'NX');
  if (got !== 'OK') return null;
  const vendors = d.vendors();
  const overdue = await d.store.findOverdue(new Date(now()), d.batch ?? 1000);
  let handled = 0;
  for (const job of overdue) {
    const spec = vendors.get(job.vendor);
    if (!spec) continue; // another pool's job, or a vendor this pool no longer serves
    const log = d.logger.child({ request_id: job.request_id, vendor: job.vendor });
    const free = job.status === 'processing' ? await queue.freeCalls(d.redis, job.vendor, job.request_id) : 0;
    const action = decideOverdue(job, spec, free);
    const t = new Date(now());
    const deadline = new Date(now() + d.pendingTimeoutMs);
    // Store first (compare-and-set on the status), queue second: if the job moved meanwhile,
    // the CAS fails and we leave it alone.
    if (action.do === 'fail') {
      if (await d.store.fail(job.request_id, action.error, t)) {
        await queue.deadLetter(d.redis, job.vendor, { requestId: job.request_id, error: action.error, attempts: job.attempts });
        await queue.forgetFreeCalls(d.redis, job.vendor, job.request_id);
        d.metrics.deadLettered.inc({ vendor: job.vendor });
        d.metrics.jobsFinished.inc({ vendor: job.vendor, status: 'failed' });
        d.metrics.swept.inc({ vendor: job.vendor, action: 'fail' });
        log.warn({ attempts: job.attempts, error: action.error }, 'overdue job failed; dead-lettered');
        handled++;
      }
      continue;
    }
    const moved =
      job.status === 'pending'
        ? await d.store.setDeadline(job.request_id, 'pending', deadline, t)
        : await d.store.releaseForRetry(job.request_id, action.error ?? 'overdue', deadline, t);
    if (!moved) continue;
    await queue.enqueue(d.redis, job.vendor, job.request_id);
    d.metrics.swept.inc({ vendor: job.vendor, action: job.status === 'pending' ? 'requeue' : 'retry' });
    log.info({ status: job.status, attempts: job.attempts, reason: action.error ?? 'pending_overdue' }, 'overdue job queued again');
    handled++;
  }
  return handled;
}

/**
 * Redis lost its data: the stream entries of every pending job are gone, and waiting for
 * each job's deadline could take minutes. Queue every pending job of the pool's vendors again
 * now. Duplicates are harmless: the store decides, per entry, whether there is work left.
 * Returns how many jobs were queued.
 */
export async function recoverLostQueue(d: Pick<SweeperDeps, 'store' | 'redis' | 'vendors' | 'metrics' | 'logger' | 'now' | 'batch'>): Promise<number> {
  const now = d.now ?? Date.now;
  const vendors = d.vendors();
  // Every unfinished job has a deadline before "far ahead"; processing ones are left to their deadline.
  const farAhead = new Date(now() + 10 * 365 * 24 * 3600 * 1000);
  const jobs = await d.store.findOverdue(farAhead, d.batch ?? 10_000);
  let queued = 0;
  for (const job of jobs) {
    if (job.status !== 'pending' || !vendors.has(job.vendor)) continue;
    await queue.enqueue(d.redis, job.vendor, job.request_id);
    d.metrics.swept.inc({ vendor: job.vendor, action: 'recover' });
    queued++;
  }
  d.logger.warn({ queued }, 'Redis lost its data: pending jobs queued again from the store');
  return queued;
}
