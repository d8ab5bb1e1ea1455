// One job, from its stream entry to its next state. The order of steps is what makes the
// queue safe to lose and the calls safe to repeat:
//   1. read the job from the store (the source of truth): finished, or held by another live
//      worker → ack the entry and drop it;
//   2. ask the breaker: open → park the job until it may half-open (no attempt burned);
//   3. store.startAttempt (attempts + 1, deadline = quota allowance + call timeout + margin);
//   4. wait for the vendor's global quota, keeping the deadline ahead while waiting, then call
//      at once (the grant is only good now);
//   5. free the quota slot, then carry out decide()'s verdict: store first, queue second, so a
//      crash in between leaves the job in the store for the sweeper or the entry for XAUTOCLAIM.
// Every store write after step 3 carries our attempt number as a fencing token: if the job was
// taken over (a newer startAttempt), a stale worker's write matches nothing.
//
// A client's cancel (store.cancel, from the api) is a CAS of its own that no step can undo:
// before step 3 startAttempt refuses the job; while it waits for quota the deadline extension
// misses, and after a wait the job is read again before the call (so a job cancelled while
// waiting is never sent); once the call is out, every fenced write of step 5 misses, and the
// answer is dropped and counted (vendorfetch_cancelled_answers_dropped_total).
//
// A vendor with a result cache (spec.cache, sync only) goes through the cache first
// (worker/result-cache.ts): a hit completes the job at once — no breaker, attempt, quota or
// call; a miss takes the single-flight lock, runs the steps above, and puts the cleaned answer.
import type { Redis } from 'ioredis';
import { clean } from '../core/clean.js';
import { isFinished, type Job, type JobStore } from '../core/job.js';
import type { Logger } from '../core/logger.js';
import * as queue from '../core/queue.js';
import type { QueueEntry } from '../core/queue.js';
import type { VendorSpec } from '../core/vendorpool.js';
import { isBrokenCircuit, isCountedFailure, isTimeout, type VendorBreaker } from './breaker.js';
import { decide, type CallOutcome } from './decide.js';
import type { WorkerMetrics } from './metrics.js';
import { inFlightLeaseMs, type QuotaGate, type Release } from './quota.js';
import { lookupOrLock } from './result-cache.js';
import { callVendor } from './vendor-call.js';

export interface VendorRuntime {
  spec: VendorSpec;
  breaker: VendorBreaker;
  /**
   * Aborted when this runtime's consumer is retired (its spec changed — a pause among others —
   * or the vendor left the pool): jobs still waiting for quota are handed back instead of
   * calling under a spec that no longer holds.
   */
  retired: AbortSignal;
}

export interface ProcessSignals {
  /** close() was called: stop waiting for quota and hand the job back. */
  stopping: AbortSignal;
  /** The drain deadline passed: abort calls still running (their entries stay in the PEL). */
  hardStop: AbortSignal;
}

export interface ProcessDeps {
  store: JobStore;
  redis: Redis;
  quota: Pick<QuotaGate, 'acquire' | 'pause'>;
  metrics: WorkerMetrics;
  logger: Logger;
  /** How long a job may stay pending before the sweeper queues it again. */
  pendingTimeoutMs: number;
  /** Added to the call timeout for a processing job's deadline (time to store the answer). */
  callMarginMs: number;
  /** Added to a processing job's deadline for the quota wait before its call. */
  quotaWaitAllowanceMs: number;
  callbackUrl: (vendor: string) => string | undefined;
  /** Largest vendor answer read; a longer one fails the call. Default 4 MiB (DEFAULT_MAX_ANSWER_BYTES). */
  maxAnswerBytes?: number;
  now?: () => number;
  random?: () => number;
}

/**
 * A grant that came later than this after asking means the job waited for its quota: it is
 * read again before the call, so a cancel that landed during the wait stops it. A quicker grant
 * (the usual case below the quota) goes straight to the vendor: a cancel in that moment is a
 * cancel of a call in flight. Why not always: the read then sits between every grant and its
 * call, which the gate's rolling-second accounting would have to absorb (ADR 0002).
 */
export const RECHECK_AFTER_QUOTA_WAIT_MS = 20;

export type JobProcessor = (v: VendorRuntime, entry: QueueEntry, signals: ProcessSignals) => Promise<void>;

export function createJobProcessor(deps: ProcessDeps): JobProcessor {
  const { store, redis, quota, metrics } = deps;
  const now = deps.now ?? Date.now;
  const at = (ms: number) => new Date(ms);
  // One XACK per vendor per event-loop turn instead of one per job (see createAckBatcher).
  const ackEntry = queue.createAckBatcher(redis);

  return async function processEntry(v, entry, signals) {
    if (v.spec.cache === undefined || v.spec.mode !== 'sync') return processOnce(v, entry, signals);
    const vendor = v.spec.name;
    const job = await store.get(entry.requestId);
    if (!job || isFinished(job.status) || job.vendor !== vendor) return ackEntry(vendor, entry);
    const lookup = await lookupOrLock(redis, v.spec, job.payload, {
      leaseMs: callWindowMs(v) + deps.quotaWaitAllowanceMs,
      // Shutting down, or the vendor's spec changed (a pause among others) while we waited for
      // another worker's call: the entry goes back to its lane, the job untouched (no attempt).
      signal: AbortSignal.any([signals.stopping, v.retired]),
    });
    if (lookup.kind === 'stopped') return queue.requeue(redis, vendor, entry);
    if (lookup.kind === 'hit') {
      metrics.cacheLookups.inc({ vendor, result: 'hit' });
      if (await store.completeFromCache(job.request_id, lookup.result, at(now()), job.attempts)) {
        finished(job, 'complete');
        deps.logger.info({ request_id: job.request_id, vendor }, 'job complete from the result cache');
      }
      // Not won: cancelled, or started by another worker meanwhile (its own entry carries it on).
      return ackEntry(vendor, entry);
    }
    metrics.cacheLookups.inc({ vendor, result: 'miss' });
    try {
      await processOnce(v, entry, signals, (cleaned) =>
        lookup.put(cleaned).catch((err: unknown) => deps.logger.warn({ err, vendor }, 'could not store the answer in the result cache')),
      );
    } finally {
      await lookup.release().catch((err: unknown) => deps.logger.debug({ err, vendor }, 'result-cache lock not released (it expires)'));
    }
  };

  /** The steps of the header for one entry; `onAnswer` gets the cleaned answer of a complete call. */
  async function processOnce(v: VendorRuntime, entry: QueueEntry, signals: ProcessSignals, onAnswer?: (cleaned: unknown) => Promise<void>): Promise<void> {
    const vendor = v.spec.name;
    // Fields merged per line instead of a pino child per job: creating a child costs more than
    // the lines it writes (usually none below info), and a disabled level costs nothing here.
    const ctx = { request_id: entry.requestId, vendor };

    // 1. The store decides whether there is anything to do.
    const job = await store.get(entry.requestId);
    if (!job || isFinished(job.status) || job.vendor !== vendor) return ackEntry(vendor, entry);
    // A processing job whose deadline is still ahead belongs to a live worker or awaits its
    // webhook: this entry is a duplicate (sweeper, reclaim). The sweeper watches the deadline.
    // Unless the entry was taken from a consumer known dead: then the call it started died with it.
    if (job.status === 'processing' && job.deadline_at.getTime() > now() && !entry.abandoned) return ackEntry(vendor, entry);

    // 2. Breaker open: park the job until the breaker may half-open (no attempt used).
    const admission = v.breaker.admit(now());
    if (!admission.ok) {
      await park(job, entry, admission.retryInMs, 'circuit_open');
      metrics.retries.inc({ vendor, reason: 'circuit_open' });
      return;
    }
    let started: Job | null;
    let outcome: CallOutcome;
    try {
      // 3. Count the call first: the store write must not sit between the quota grant and the
      //    call (the gate's rolling-second guarantee assumes the call follows the grant at once).
      //    The deadline leaves room for the quota wait; the sweeper acts only after it.
      const t = now();
      // Conditional on the attempt count read in step 1: if another worker started a call
      // since (two entries of one job, e.g. a reclaimed one and the sweeper's), this entry is
      // a duplicate and changes nothing — above all not the count, which is that worker's
      // fencing token.
      started = await store.startAttempt(job.request_id, at(t + callWindowMs(v) + deps.quotaWaitAllowanceMs), at(t), job.attempts);
      if (!started) return ackEntry(vendor, entry);

      // 4. Quota: wait as long as it takes; on shutdown, or when the vendor's spec changed (a
      //    pause among others: v.retired), hand the job back uncalled. While waiting, keep
      //    the deadline ahead (a 429 pause can outlast any allowance), fenced by our attempt:
      //    if the job was taken over meanwhile, stop waiting and leave it to its new owner.
      const attempt = started.attempts;
      const startedId = started.request_id;
      let release: Release;
      const lost = new AbortController();
      const keepAhead = setInterval(() => {
        const t2 = now();
        store.setDeadline(startedId, 'processing', at(t2 + callWindowMs(v) + deps.quotaWaitAllowanceMs), at(t2), attempt).then(
          (ok) => {
            if (!ok) lost.abort();
          },
          (err: unknown) => deps.logger.warn({ ...ctx, err }, 'could not extend the deadline of a job waiting for quota'),
        );
      }, Math.max(50, Math.floor(deps.quotaWaitAllowanceMs / 3)));
      try {
        release = await quota.acquire(vendor, v.spec.quota, AbortSignal.any([signals.stopping, v.retired, lost.signal]), {
          // The slot must outlive the longest call this vendor allows (its timeout).
          leaseMs: inFlightLeaseMs(v.spec.timeoutSeconds, deps.callMarginMs),
        });
      } catch (e) {
        if (signals.stopping.aborted) return handBack(started, entry, 'worker_shutdown');
        if (v.retired.aborted) return handBack(started, entry, 'vendor_spec_changed');
        if (lost.signal.aborted) return droppedTakenOver(started, entry);
        throw e;
      } finally {
        clearInterval(keepAhead);
      }
      const waited = now() - t;
      metrics.quotaWait.observe({ vendor }, waited / 1000);
      try {
        // Taken over while the grant came, or a wait past the allowance (the extension may have
        // lagged): make sure the job is still ours before calling (fenced), else drop it.
        if (
          lost.signal.aborted ||
          (waited > deps.quotaWaitAllowanceMs &&
            !(await store.setDeadline(started.request_id, 'processing', at(now() + callWindowMs(v)), at(now()), attempt))) ||
          (waited > RECHECK_AFTER_QUOTA_WAIT_MS && !(await stillOurs(started)))
        ) {
          return droppedTakenOver(started, entry);
        }
        outcome = await call(v, started, signals.hardStop, release);
      } finally {
        await release();
      }
    } finally {
      admission.done();
    }

    // 5. Carry out the verdict.
    const free = outcome.kind === 'failed' ? await queue.freeCalls(redis, vendor, started.request_id) : 0;
    // Calls before a dead-letter replay do not count: the replay gave the job a fresh budget.
    const failures = started.attempts - (started.replayed_attempts ?? 0) - free;
    const action = decide({ outcome, failures, spec: v.spec, nowMs: now(), ...(deps.random ? { random: deps.random } : {}) });
    switch (action.do) {
      case 'complete': {
        const cleaned = clean(action.result, v.spec.cleaning);
        const won = await store.complete(started.request_id, cleaned, at(now()), started.attempts);
        // The vendor's answer is good for the cache even if this job was cancelled meanwhile.
        if (onAnswer) await onAnswer(cleaned);
        if (won) {
          finished(started, 'complete');
          // Written only by the call that won the store's compare-and-set: one line per job.
          deps.logger.info({ ...ctx, attempts: started.attempts }, 'job complete');
        } else if (!(await droppedForCancel(started))) {
          metrics.completionConflicts.inc({ vendor });
          deps.logger.info({ ...ctx, attempts: started.attempts }, 'job already finished elsewhere; answer dropped');
        }
        await ackEntry(vendor, entry);
        // Free calls exist only after a 429, an open breaker or a duplicate, so never on a first call.
        if (started.attempts > 1) await queue.forgetFreeCalls(redis, vendor, started.request_id);
        return;
      }
      case 'await_callback':
        if (!(await store.setDeadline(started.request_id, 'processing', at(action.deadlineMs), at(now()), started.attempts))) {
          await droppedForCancel(started);
        }
        await ackEntry(vendor, entry);
        deps.logger.debug(ctx, 'vendor accepted; waiting for its webhook');
        return;
      case 'retry': {
        if (!action.countsAsFailure) await queue.addFreeCall(redis, vendor, started.request_id);
        if (outcome.kind === 'rate_limited') await quota.pause(vendor, outcome.retryAfterMs);
        const due = now() + action.delayMs;
        if (await store.releaseForRetry(started.request_id, action.error, at(due + deps.pendingTimeoutMs), at(now()), started.attempts)) {
          await queue.scheduleRetry(redis, vendor, entry, due);
        } else {
          await ackEntry(vendor, entry);
          if (await droppedForCancel(started)) return;
        }
        metrics.retries.inc({ vendor, reason: action.countsAsFailure ? 'failure' : outcome.kind });
        deps.logger.info({ ...ctx, attempts: started.attempts, delay_ms: action.delayMs, error: action.error }, 'retry scheduled');
        return;
      }
      case 'fail':
        if (await store.fail(started.request_id, action.error, at(now()), started.attempts)) {
          await queue.deadLetter(redis, vendor, { requestId: started.request_id, error: action.error, attempts: started.attempts }, entry);
          metrics.deadLettered.inc({ vendor });
          finished(started, 'failed');
          deps.logger.warn({ ...ctx, attempts: started.attempts, error: action.error }, 'job failed; dead-lettered');
        } else {
          await ackEntry(vendor, entry);
          await droppedForCancel(started);
        }
        await queue.forgetFreeCalls(redis, vendor, started.request_id);
        return;
      case 'leave':
        // Shut down mid-call: the entry stays pending in the PEL and the job keeps its deadline;
        // XAUTOCLAIM or the sweeper gives it to another worker.
        return;
    }
  }

  function callWindowMs(v: VendorRuntime): number {
    return v.spec.timeoutSeconds * 1000 + deps.callMarginMs;
  }

  /**
   * No call after all (shutting down, or the vendor's spec changed — e.g. paused — while the job
   * waited for quota): the job goes back to pending, its attempt free, and its entry to the stream.
   */
  async function handBack(job: Job, entry: QueueEntry, reason: 'worker_shutdown' | 'vendor_spec_changed'): Promise<void> {
    await queue.addFreeCall(redis, job.vendor, job.request_id);
    if (await store.releaseForRetry(job.request_id, reason, at(now() + deps.pendingTimeoutMs), at(now()), job.attempts)) {
      await queue.requeue(redis, job.vendor, entry);
    } else await ackEntry(job.vendor, entry);
  }

  /**
   * Our job was taken over while we waited for quota (the sweeper re-queued it and another
   * worker started it), or its client cancelled it: we made no call, so our increment is a free
   * one (the free-call hash expires on its own for a cancelled job); the entry is dropped.
   */
  async function droppedTakenOver(job: Job, entry: QueueEntry): Promise<void> {
    await queue.addFreeCall(redis, job.vendor, job.request_id);
    await ackEntry(job.vendor, entry);
    deps.logger.info({ request_id: job.request_id, vendor: job.vendor }, 'job taken over or cancelled while waiting for quota; not calling');
  }

  /** After a quota wait: is the job still processing under our attempt (not cancelled, not taken over)? */
  async function stillOurs(job: Job): Promise<boolean> {
    const current = await store.get(job.request_id);
    return current !== null && current.status === 'processing' && current.attempts === job.attempts;
  }

  /**
   * A fenced write after the call matched nothing. If the client cancelled the job meanwhile,
   * the vendor's answer is dropped and counted here (true); otherwise (false) the job was
   * finished or taken over elsewhere, which the caller reports its own way.
   */
  async function droppedForCancel(job: Job): Promise<boolean> {
    const current = await store.get(job.request_id);
    if (current?.status !== 'cancelled') return false;
    metrics.cancelledAnswersDropped.inc({ vendor: job.vendor });
    deps.logger.info({ request_id: job.request_id, vendor: job.vendor, attempts: job.attempts }, 'job cancelled during its vendor call; answer dropped');
    await queue.forgetFreeCalls(redis, job.vendor, job.request_id);
    return true;
  }

  /** Put a job back until `delayMs` from now without touching its attempts. */
  async function park(job: Job, entry: QueueEntry, delayMs: number, reason: string): Promise<void> {
    const due = now() + delayMs;
    const deadline = at(due + deps.pendingTimeoutMs);
    // A reclaimed processing job goes back to pending, else the duplicate check would drop it.
    const ok =
      job.status === 'processing'
        ? await store.releaseForRetry(job.request_id, reason, deadline, at(now()), job.attempts)
        : await store.setDeadline(job.request_id, 'pending', deadline, at(now()), job.attempts);
    if (ok) await queue.scheduleRetry(redis, job.vendor, entry, due);
    else await ackEntry(job.vendor, entry);
  }

  async function call(v: VendorRuntime, job: Job, hardStop: AbortSignal, grant: Release): Promise<CallOutcome> {
    const vendor = v.spec.name;
    const t0 = now();
    let outcome: CallOutcome;
    let code: string;
    try {
      const callbackUrl = deps.callbackUrl(vendor);
      const maxAnswerBytes = v.spec.maxAnswerBytes ?? deps.maxAnswerBytes; // the vendor's own limit, else the worker's
      outcome = await v.breaker.execute(
        (signal) =>
          callVendor({
            spec: v.spec,
            job,
            signal,
            nowMs: now,
            grant,
            ...(callbackUrl ? { callbackUrl } : {}),
            ...(maxAnswerBytes !== undefined ? { maxAnswerBytes } : {}),
          }),
        hardStop,
      );
      // status 0: refused before anything was sent (see callVendor).
      code = 'status' in outcome && outcome.status > 0 ? String(outcome.status) : outcome.kind;
    } catch (e) {
      if (hardStop.aborted) {
        outcome = { kind: 'aborted' };
        code = 'aborted';
      } else if (isCountedFailure(e)) {
        outcome = { kind: 'failed', code: e.code, error: e.message };
        code = e.status !== undefined ? String(e.status) : e.code;
      } else if (isTimeout(e)) {
        outcome = { kind: 'failed', code: 'vendor_timeout', error: `vendor_timeout: no answer within ${v.spec.timeoutSeconds}s` };
        code = 'timeout';
      } else if (isBrokenCircuit(e)) {
        outcome = { kind: 'circuit_open' };
        code = 'circuit_open';
      } else throw e;
    }
    metrics.vendorCalls.inc({ vendor, code });
    metrics.vendorCallDuration.observe({ vendor, code }, (now() - t0) / 1000);
    return outcome;
  }

  function finished(job: Job, status: 'complete' | 'failed'): void {
    metrics.jobsFinished.inc({ vendor: job.vendor, status });
    metrics.jobDuration.observe({ vendor: job.vendor, status }, Math.max(0, now() - job.created_at.getTime()) / 1000);
  }
}
