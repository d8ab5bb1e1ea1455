// POST /jobs and GET /jobs/:id.
import express, { Router } from 'express';
import type { Job } from '../core/job.js';
import { isVendorfetchError, unavailable } from '../core/errors.js';
import { enqueue } from '../core/queue.js';
import type { ApiDeps } from './deps.js';
import type { ApiMetrics } from './metrics.js';
import { newRequestId } from './request-id.js';
import { httpError, validationError, type FieldError } from './problem.js';
import { isRequestId, parseIdempotencyKey, parseSubmission } from './submission.js';

export interface JobView {
  request_id: string;
  vendor: string;
  status: Job['status'];
  attempts: number;
  result?: unknown;
  error?: string;
  created_at: string;
  updated_at: string;
  completed_at?: string;
}

/** What GET /jobs/:id shows: never the payload, the idempotency key or the sweeper's deadline. */
export function jobView(job: Job): JobView {
  const view: JobView = {
    request_id: job.request_id,
    vendor: job.vendor,
    status: job.status,
    attempts: job.attempts,
    created_at: job.created_at.toISOString(),
    updated_at: job.updated_at.toISOString(),
  };
  if (job.result !== undefined) view.result = job.result;
  if (job.error !== undefined) view.error = job.error;
  if (job.completed_at !== undefined) view.completed_at = job.completed_at.toISOString();
  return view;
}

const asStoreError = (e: unknown) => (isVendorfetchError(e) ? e : unavailable('job store', e));

export function jobsRouter(deps: ApiDeps, metrics: ApiMetrics): Router {
  const { store, redis, registry, logger } = deps;
  const opts = deps.options ?? {};
  const now = deps.now ?? (() => new Date());
  const pendingTimeoutMs = (opts.pendingTimeoutSeconds ?? 600) * 1000;
  // Any content type is read as JSON: clients that forget the header (curl -d) still work,
  // and a body that is not JSON gets the same 400 whatever it claimed to be.
  const json = express.json({ limit: opts.bodyLimit ?? '256kb', type: () => true });
  // Submissions with an Idempotency-Key still running in this process: a concurrent repeat
  // waits for the first one's outcome instead of answering with a job that may yet be undone.
  const inFlight = new Map<string, Promise<string>>();

  /**
   * Store, then queue; answer only when both hold. Why this order and what "twice" means:
   * - store.create first: the store is the source of truth. A queue entry whose job is not in
   *   the store is dropped by the worker (startAttempt finds nothing), so it can never run.
   * - XADD fails → we delete the job and answer 503: nothing is left half-written. If the XADD
   *   did reach Redis but its reply was lost, the entry's job is gone and the worker drops it.
   * - XADD fails AND the delete fails (store and Redis both failing) → the job stays pending
   *   with its deadline_at; the sweeper queues it then. It is never lost, but the client saw
   *   503: a client that retries WITHOUT an Idempotency-Key creates a second job (it runs
   *   twice); with the same Idempotency-Key the retry gets the first job's request_id. This is
   *   the price of never losing an accepted write; clients that care send the key.
   * - The worker's compare-and-set transitions keep duplicate queue entries (sweeper +
   *   original) from completing a job twice.
   */
  async function submit(vendor: string, payload: Record<string, unknown>, key: string | undefined) {
    const at = now();
    const requestId = newRequestId(at.getTime());
    let created: boolean;
    let id: string;
    try {
      const r = await store.create(
        {
          request_id: requestId,
          vendor,
          payload,
          ...(key === undefined ? {} : { idempotency_key: key }),
          deadline_at: new Date(at.getTime() + pendingTimeoutMs),
        },
        at,
      );
      created = r.created;
      id = r.job.request_id;
    } catch (e) {
      throw asStoreError(e);
    }
    if (!created) return { requestId: id, created };
    try {
      await enqueue(redis, vendor, requestId);
    } catch (e) {
      try {
        await store.delete(requestId);
      } catch (undoErr) {
        logger.warn(
          { request_id: requestId, vendor, err: undoErr },
          'queue and store both failing: job left pending, the sweeper will queue it at its deadline',
        );
      }
      throw unavailable('queue (Redis)', e);
    }
    metrics.jobsSubmitted.inc({ vendor });
    return { requestId, created };
  }

  const router = Router();

  router.post('/jobs', json, async (req, res) => {
    const sub = parseSubmission(req.body);
    const idem = parseIdempotencyKey(req.headers['idempotency-key']);
    const errors: FieldError[] = [...(sub.ok ? [] : sub.errors), ...(idem.ok ? [] : [idem.error])];
    if (!sub.ok || !idem.ok) throw validationError(errors);

    const vendor = sub.vendor ?? opts.defaultVendor;
    if (vendor === undefined) {
      throw httpError('unknown_vendor', 422, 'no "vendor" given and no default vendor is configured', [
        { field: 'vendor', detail: 'required' },
      ]);
    }
    if (registry.get(vendor) === undefined) {
      throw httpError('unknown_vendor', 422, `unknown vendor "${vendor.slice(0, 64)}"`, [{ field: 'vendor', detail: 'unknown vendor' }]);
    }

    // Idempotency-Key: the key alone identifies the submission (the store's unique index). A
    // repeat gets the first job's request_id even if its body differs; we do not compare
    // payloads (key order and number formats make "the same body" ambiguous).
    let requestId: string;
    let created = true;
    const key = idem.key;
    const running = key === undefined ? undefined : inFlight.get(key);
    if (running) {
      requestId = await running;
      created = false;
    } else {
      const p = submit(vendor, sub.payload, key);
      if (key !== undefined) {
        const idOnly = p.then((r) => r.requestId);
        idOnly.catch(() => {}); // observed by the waiters; the first request reports the error
        inFlight.set(key, idOnly);
        void idOnly.finally(() => inFlight.delete(key)).catch(() => {});
      }
      const r = await p;
      requestId = r.requestId;
      created = r.created;
    }

    res.locals['request_id'] = requestId;
    if (!created) res.setHeader('Idempotent-Replayed', 'true');
    res.setHeader('Location', `/jobs/${requestId}`);
    res.status(202).json({ request_id: requestId });
  });

  router.get('/jobs/:id', async (req, res) => {
    const id = req.params['id'];
    res.locals['request_id'] = id;
    if (!isRequestId(id)) throw validationError([{ field: 'id', detail: 'must be a request_id (a UUID)' }]);
    let job: Job | null;
    try {
      job = await store.get(id);
    } catch (e) {
      throw asStoreError(e);
    }
    if (job === null) throw httpError('not_found', 404, `no job ${id}`);
    res.json(jobView(job));
  });

  return router;
}
