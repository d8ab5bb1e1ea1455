// POST /jobs and GET /jobs/:id.
import { Router } from 'express';
import { ANONYMOUS_CLIENT, checkCallbackUrl } from '../core/callback-policy.js';
import type { CallbackState, Job, Priority } from '../core/job.js';
import { isVendorfetchError, unavailable } from '../core/errors.js';
import { enqueue } from '../core/queue.js';
import type { ApiDeps } from './deps.js';
import type { ApiMetrics } from './metrics.js';
import { canonicalFingerprint, claimInFlight, idempotencyKeyReused, scopedIdempotencyKey } from './idempotency.js';
import { DEFAULT_MAX_JSON_DEPTH, jsonBody } from './json-body.js';
import { newRequestId } from './request-id.js';
import { httpError, validationError, type FieldError } from './problem.js';
import { isRequestId, parseIdempotencyKey, parseSubmission } from './submission.js';

export interface JobView {
  request_id: string;
  vendor: string;
  priority: Priority;
  status: Job['status'];
  attempts: number;
  result?: unknown;
  error?: string;
  created_at: string;
  updated_at: string;
  completed_at?: string;
  from_cache?: true;
  callback_url?: string;
  callback?: CallbackView;
}

export interface CallbackView {
  state: CallbackState;
  attempts: number;
  last_error?: string;
  delivered_at?: string;
}

/** What GET /jobs/:id shows: never the payload, the idempotency key or the sweeper's deadline. */
export function jobView(job: Job): JobView {
  const view: JobView = {
    request_id: job.request_id,
    vendor: job.vendor,
    priority: job.priority,
    status: job.status,
    attempts: job.attempts,
    created_at: job.created_at.toISOString(),
    updated_at: job.updated_at.toISOString(),
  };
  if (job.result !== undefined) view.result = job.result;
  if (job.error !== undefined) view.error = job.error;
  if (job.completed_at !== undefined) view.completed_at = job.completed_at.toISOString();
  if (job.from_cache === true) view.from_cache = true;
  if (job.callback_url !== undefined) view.callback_url = job.callback_url;
  if (job.callback !== undefined) {
    const cb: CallbackView = { state: job.callback.state, attempts: job.callback.attempts };
    if (job.callback.last_error !== undefined) cb.last_error = job.callback.last_error;
    if (job.callback.delivered_at !== undefined) cb.delivered_at = job.callback.delivered_at.toISOString();
    view.callback = cb;
  }
  return view;
}

const asStoreError = (e: unknown) => (isVendorfetchError(e) ? e : unavailable('job store', e));

export function jobsRouter(deps: ApiDeps, metrics: ApiMetrics): Router {
  const { store, redis, registry, logger } = deps;
  const opts = deps.options ?? {};
  const now = deps.now ?? (() => new Date());
  const pendingTimeoutMs = (opts.pendingTimeoutSeconds ?? 600) * 1000;
  // Any content type is read as JSON; nesting and non-finite numbers are refused (json-body.ts).
  const json = jsonBody({ limit: opts.bodyLimit ?? '256kb', maxDepth: opts.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH });

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
  async function submit(
    vendor: string,
    priority: Priority,
    payload: Record<string, unknown>,
    key: string | undefined,
    callback: { url: string; clientId: string } | undefined,
  ): Promise<{ job: Job; created: boolean }> {
    const at = now();
    const requestId = newRequestId(at.getTime());
    let r: { job: Job; created: boolean };
    try {
      r = await store.create(
        {
          request_id: requestId,
          vendor,
          payload,
          priority,
          ...(key === undefined ? {} : { idempotency_key: key }),
          ...(callback === undefined ? {} : { callback_url: callback.url, client_id: callback.clientId }),
          deadline_at: new Date(at.getTime() + pendingTimeoutMs),
        },
        at,
      );
    } catch (e) {
      throw asStoreError(e);
    }
    if (!r.created) return r;
    try {
      await enqueue(redis, vendor, requestId, priority); // the job's lane: docs/adr/0008-priority-lanes.md
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
    return r;
  }

  const router = Router();

  router.post('/jobs', ...json, async (req, res) => {
    const sub = parseSubmission(req.body);
    const idem = parseIdempotencyKey(req.headers['idempotency-key']);
    const errors: FieldError[] = [...(sub.ok ? [] : sub.errors), ...(idem.ok ? [] : [idem.error])];
    if (!sub.ok || !idem.ok) throw validationError(errors);

    const vendor = sub.vendor ?? opts.defaultVendor;
    if (vendor === undefined) {
      throw httpError('unknown_vendor', 'no "vendor" given and no default vendor is configured', [
        { field: 'vendor', detail: 'required' },
      ]);
    }
    if (registry.get(vendor) === undefined) {
      throw httpError('unknown_vendor', `unknown vendor "${vendor.slice(0, 64)}"`, [{ field: 'vendor', detail: 'unknown vendor' }]);
    }

    // callback_url: only to a host on this client's allowlist (the worker checks the resolved
    // address again at send time, core/callback-policy.ts).
    let callback: { url: string; clientId: string } | undefined;
    if (sub.callbackUrl !== undefined) {
      const clientId = String(res.locals['clientId'] ?? ANONYMOUS_CLIENT);
      const check = checkCallbackUrl(sub.callbackUrl, opts.callbackClients?.get(clientId));
      if (!check.ok) throw httpError('callback_not_allowed', `callback_url: ${check.reason}`, [{ field: 'callback_url', detail: check.reason }]);
      callback = { url: check.url.href, clientId };
    }

    // Idempotency-Key (api/idempotency.ts): scoped by client and route; a repeat in flight →
    // 409; a finished repeat replays the first job if vendor and payload match, else 422.
    let job: Job;
    let created: boolean;
    if (idem.key === undefined) {
      ({ job, created } = await submit(vendor, sub.priority, sub.payload, undefined, callback));
    } else {
      const scoped = scopedIdempotencyKey(String(res.locals['clientId'] ?? 'anonymous'), 'POST /jobs', idem.key);
      let release: () => Promise<void>;
      try {
        release = await claimInFlight(redis, scoped);
      } catch (e) {
        if (isVendorfetchError(e) && e.code === 'idempotency_key_in_flight') res.setHeader('Retry-After', '1');
        throw e;
      }
      try {
        ({ job, created } = await submit(vendor, sub.priority, sub.payload, scoped, callback));
      } finally {
        await release().catch((err: unknown) => {
          // The marker expires on its own (IN_FLIGHT_TTL_MS); until then repeats get 409.
          logger.warn({ err }, 'could not clear an Idempotency-Key in-flight marker');
        });
      }
      // The priority is part of the request: the same key with another priority is another request.
      if (!created && (job.priority !== sub.priority || canonicalFingerprint(job.vendor, job.payload) !== canonicalFingerprint(vendor, sub.payload))) {
        throw idempotencyKeyReused();
      }
    }
    const requestId = job.request_id;

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
    if (job === null) throw httpError('not_found', `no job ${id}`);
    res.json(jobView(job));
  });

  return router;
}
