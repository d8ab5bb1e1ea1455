// The sweeper makes the store the source of truth: every few seconds ONE worker of the pool
// (a Redis lock, SET NX PX, that simply expires) looks for unfinished jobs of the POOL'S OWN
// vendors past their deadline and queues them again, retries them, or fails them
// (decideOverdue). So a job survives a Redis that lost everything, an api that died between
// store and queue, a dead worker, and a webhook that never came.
//
// Each vendor is queried on its own (ids and metadata only, no payloads): overdue jobs of
// other pools — or of vendors no pool serves any more — can never crowd a pool's own out of
// the batch. Those "unserved" jobs are counted in a gauge and, once overdue longer than
// `unservedFailAfterMs`, failed with the reason `vendor_unserved` — both by whichever worker
// holds the global unserved lock, every UNSERVED_SWEEP_MS. A paused vendor is served (it is in the registry): its pending jobs
// wait, untouched (holdPending).
import type { Redis } from 'ioredis';
import type { JobMeta, JobStore } from '../core/job.js';
import { keys } from '../core/keys.js';
import type { Logger } from '../core/logger.js';
import * as queue from '../core/queue.js';
import type { VendorSpec } from '../core/vendorpool.js';
import { decideOverdue } from './decide.js';
import type { WorkerMetrics } from './metrics.js';

/** Default time an unserved vendor's job may stay overdue before it is failed: 24 h. */
export const DEFAULT_UNSERVED_FAIL_AFTER_MS = 24 * 3600 * 1000;
/** How often jobs of vendors no pool serves are counted (and failed), by one worker of all pools. */
export const UNSERVED_SWEEP_MS = 30_000;
/** When this worker last counted them (per metrics registry: one per worker). */
const lastUnservedCount = new WeakMap<WorkerMetrics, number>();

export interface SweeperDeps {
  store: JobStore;
  redis: Redis;
  pool: string;
  /** The vendors this pool serves right now. */
  vendors: () => ReadonlyMap<string, VendorSpec>;
  /** Every vendor in the registry, of any pool (what "served" means). */
  registeredVendors: () => ReadonlySet<string>;
  /**
   * True while a vendor's overdue PENDING jobs are to be left alone: it is paused, or was resumed
   * less than a pending timeout ago (worker.ts). They are neither re-queued (their entries are
   * still in the stream: a re-queue would only add duplicates, a storm on a long pause) nor
   * failed, nor have their deadline moved (no store write per job per sweep): they simply wait.
   * Processing jobs are judged as ever — their calls were made before the pause. Default: none.
   */
  holdPending?: (vendor: string) => boolean;
  /** New deadline of a job queued again (how long it may stay pending). */
  pendingTimeoutMs: number;
  /** How long the lock is held: at most one sweep per interval across the pool. */
  intervalMs: number;
  /** Most jobs looked at per vendor per sweep. Default 1000. */
  batch?: number;
  /**
   * A job of a vendor that no pool serves is failed (`vendor_unserved`) once overdue this long;
   * 0 turns failing off (the gauge still counts). Default 24 h.
   */
  unservedFailAfterMs?: number;
  metrics: WorkerMetrics;
  logger: Logger;
  now?: () => number;
}

/** One sweep if this worker gets the lock. Returns how many jobs it handled (null: no lock). */
export async function sweepOnce(d: SweeperDeps): Promise<number | null> {
  const now = d.now ?? Date.now;
  const got = await d.redis.set(keys.sweeperLock(d.pool), String(process.pid), 'PX', d.intervalMs, 'NX');
  if (got !== 'OK') return null;
  let handled = 0;
  for (const [vendor, spec] of d.vendors()) {
    const overdue = await d.store.findOverdue(new Date(now()), d.batch ?? 1000, vendor);
    const held = d.holdPending?.(vendor) ?? false;
    for (const job of overdue) {
      if (held && job.status === 'pending') continue;
      if (await sweepJob(d, job, spec)) handled++;
    }
  }
  return handled + (await sweepUnserved(d));
}

async function sweepJob(d: SweeperDeps, job: JobMeta, spec: VendorSpec): Promise<boolean> {
  const now = d.now ?? Date.now;
  const log = d.logger.child({ request_id: job.request_id, vendor: job.vendor });
  const free = job.status === 'processing' ? await queue.freeCalls(d.redis, job.vendor, job.request_id) : 0;
  const action = decideOverdue(job, spec, free);
  const t = new Date(now());
  const deadline = new Date(now() + d.pendingTimeoutMs);
  // Store first (compare-and-set on the status and the attempt we read), queue second: if
  // the job moved meanwhile (a worker started it), the CAS fails and we leave it alone.
  if (action.do === 'fail') {
    if (!(await failJob(d, job, action.error, t))) return false;
    d.metrics.swept.inc({ vendor: job.vendor, action: 'fail' });
    log.warn({ attempts: job.attempts, error: action.error }, 'overdue job failed; dead-lettered');
    return true;
  }
  const moved =
    job.status === 'pending'
      ? await d.store.setDeadline(job.request_id, 'pending', deadline, t, job.attempts)
      : await d.store.releaseForRetry(job.request_id, action.error ?? 'overdue', deadline, t, job.attempts);
  if (!moved) return false;
  await queue.enqueue(d.redis, job.vendor, job.request_id, job.priority); // its own lane
  d.metrics.swept.inc({ vendor: job.vendor, action: job.status === 'pending' ? 'requeue' : 'retry' });
  log.info({ status: job.status, attempts: job.attempts, reason: action.error ?? 'pending_overdue' }, 'overdue job queued again');
  return true;
}

async function failJob(d: SweeperDeps, job: JobMeta, error: string, t: Date): Promise<boolean> {
  if (!(await d.store.fail(job.request_id, error, t, job.attempts))) return false;
  await queue.deadLetter(d.redis, job.vendor, { requestId: job.request_id, error, attempts: job.attempts });
  await queue.forgetFreeCalls(d.redis, job.vendor, job.request_id);
  d.metrics.deadLettered.inc({ vendor: job.vendor });
  d.metrics.jobsFinished.inc({ vendor: job.vendor, status: 'failed' });
  return true;
}

/**
 * Jobs of vendors that no pool serves: counted (gauge), and failed once overdue longer than
 * `unservedFailAfterMs` — by one worker at a time across all pools (a lock of its own). An
 * empty registry means Redis just lost its data (owners re-publish within seconds), not that
 * every vendor is gone: then nothing is judged.
 */
async function sweepUnserved(d: SweeperDeps): Promise<number> {
  const now = d.now ?? Date.now;
  const registered = d.registeredVendors();
  if (registered.size === 0) return 0;
  // One worker of all pools counts, once per UNSERVED_SWEEP_MS: the count reads every overdue
  // job, which a server without a usable index (the FerretDB dev store) does by scanning the
  // collection — per pool every few seconds, that scan was a large share of its CPU.
  const period = Math.max(d.intervalMs, UNSERVED_SWEEP_MS);
  if ((await d.redis.set(keys.sweeperLock('_unserved'), String(process.pid), 'PX', period, 'NX')) !== 'OK') {
    // Another worker counts now: figures this one counted long ago would mislead (read the
    // gauge as max by vendor over the workers).
    if (now() - (lastUnservedCount.get(d.metrics) ?? -Infinity) > 2 * period) d.metrics.unservedJobs.reset();
    return 0;
  }
  const overdue = await d.store.countOverdueByVendor(new Date(now()));
  lastUnservedCount.set(d.metrics, now());
  const unserved = [...overdue].filter(([vendor]) => !registered.has(vendor));
  d.metrics.unservedJobs.reset();
  for (const [vendor, n] of unserved) d.metrics.unservedJobs.set({ vendor }, n);
  const failAfter = d.unservedFailAfterMs ?? DEFAULT_UNSERVED_FAIL_AFTER_MS;
  if (unserved.length === 0 || failAfter <= 0) return 0;
  let failed = 0;
  for (const [vendor] of unserved) {
    const jobs = await d.store.findOverdue(new Date(now() - failAfter), d.batch ?? 1000, vendor);
    const error = `vendor_unserved: no pool serves vendor "${vendor}"`;
    for (const job of jobs) {
      if (!(await failJob(d, job, error, new Date(now())))) continue;
      d.metrics.swept.inc({ vendor, action: 'unserved' });
      failed++;
    }
    if (jobs.length > 0) d.logger.warn({ vendor, failed: jobs.length }, 'jobs of a vendor that no pool serves failed (vendor_unserved)');
  }
  return failed;
}
