// POST /jobs/batch: many jobs in one request, each answered on its own (its request_id, or its
// problem). Why a route of its own rather than a loop of POST /jobs: one HTTP request, ONE
// store write (JobStore.createMany: one SQLite transaction, one MongoDB insertMany) and one
// pipeline of XADDs per vendor (each job into its priority lane's stream), instead of a round
// trip of each per job (bench/batch.ts measures the difference).
//
// Each item goes through what POST /jobs does (api/jobs.ts), in bulk:
// - the same checks (api/submission.ts), the same per-job body limit and default vendor, the
//   same `priority` (high | normal | low, default normal), the same `callback_url` rule (this
//   client's allowlist, else 422 callback_not_allowed); a bad item gets its problem, and the
//   others go on;
// - its own Idempotency-Key (`idempotency_key` in the item), scoped exactly as the header of
//   POST /jobs (client + "POST /jobs" + key), so a client may retry an item either way and get
//   the same job; in-flight markers are claimed in one pipeline (a repeat in flight → 409);
//   the same key with another vendor, payload or priority → 422, as POST /jobs;
// - store first, then queue; an item whose XADD fails is deleted again and answered 503 (if
//   that delete fails too, the job stays pending and the sweeper queues it: as POST /jobs).
// A store write that fails as a whole stored nothing: the whole request is answered 503.
import { createHash } from 'node:crypto';
import { Router, type Response } from 'express';
import { ANONYMOUS_CLIENT, checkCallbackUrl } from '../core/callback-policy.js';
import { isVendorfetchError, unavailable } from '../core/errors.js';
import type { CreateOutcome, NewJob, Priority } from '../core/job.js';
import { keys } from '../core/keys.js';
import { enqueueMany } from '../core/queue.js';
import type { ApiDeps } from './deps.js';
import { canonicalFingerprint, IN_FLIGHT_TTL_MS, idempotencyKeyInFlight, idempotencyKeyReused, scopedIdempotencyKey } from './idempotency.js';
import { DEFAULT_MAX_JSON_DEPTH, jsonBody, sizeInBytes } from './json-body.js';
import type { ApiMetrics } from './metrics.js';
import { httpError, problemTypeUri, toProblem, validationError, type Problem } from './problem.js';
import { newRequestId } from './request-id.js';
import { IDEMPOTENCY_KEY, isPlainObject, parseSubmission } from './submission.js';

/** Default most jobs per batch (VF_BATCH_MAX_JOBS). */
export const DEFAULT_BATCH_MAX_JOBS = 1000;
/** Default body limit of a batch (VF_BATCH_BODY_LIMIT): 1,000 jobs of ~5 KB each. */
export const DEFAULT_BATCH_BODY_LIMIT = '5mb';

/** One item's answer, in input order. */
export type BatchItemResult =
  | { status: 202; request_id: string; replayed?: true }
  | { status: number; problem: Problem };

export interface BatchAnswer {
  /** Items stored and queued (replays of an Idempotency-Key included). */
  accepted: number;
  /** Items refused: each has its problem. */
  rejected: number;
  results: BatchItemResult[];
}

/** An item that passed the checks: what will be stored. */
interface ValidItem {
  index: number;
  job: NewJob & { priority: Priority };
  /** The scoped key, when the item has one. */
  scopedKey?: string;
}

const asStoreError = (e: unknown) => (isVendorfetchError(e) ? e : unavailable('job store', e));
const markerOf = (scopedKey: string) => keys.idempotencyInFlight(createHash('sha256').update(scopedKey).digest('hex'));

export function batchRouter(deps: ApiDeps, metrics: ApiMetrics): Router {
  const { store, redis, registry, logger } = deps;
  const opts = deps.options ?? {};
  const now = deps.now ?? (() => new Date());
  const pendingTimeoutMs = (opts.pendingTimeoutSeconds ?? 600) * 1000;
  const maxJobs = opts.batchMaxJobs ?? DEFAULT_BATCH_MAX_JOBS;
  const itemLimit = sizeInBytes(opts.bodyLimit ?? '256kb');
  // An item sits two levels down ({"jobs": [item]}): the same depth budget as a POST /jobs body.
  const json = jsonBody({
    limit: opts.batchBodyLimit ?? DEFAULT_BATCH_BODY_LIMIT,
    maxDepth: (opts.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH) + 2,
  });

  /** Checks one item as POST /jobs checks a body; a problem, or what to store. */
  function checkItem(raw: unknown, index: number, at: Date, client: string, measure: boolean): ValidItem | Problem {
    const asProblem = (e: unknown) => toProblem(e);
    if (!isPlainObject(raw)) return asProblem(validationError([{ field: `jobs[${index}]`, detail: 'must be a JSON object' }]));
    if (measure && Buffer.byteLength(JSON.stringify(raw)) > itemLimit) {
      return asProblem(httpError('payload_too_large', `job ${index} is larger than the limit of ${itemLimit} bytes per job`));
    }
    const { idempotency_key: key, ...body } = raw;
    const sub = parseSubmission(body);
    const keyOk = key === undefined || (typeof key === 'string' && IDEMPOTENCY_KEY.test(key));
    const errors = [...(sub.ok ? [] : sub.errors), ...(keyOk ? [] : [{ field: 'idempotency_key', detail: '1 to 255 visible ASCII characters' }])];
    if (!sub.ok || !keyOk) return asProblem(validationError(errors));
    const vendor = sub.vendor ?? opts.defaultVendor;
    if (vendor === undefined) {
      return asProblem(httpError('unknown_vendor', 'no "vendor" given and no default vendor is configured', [{ field: 'vendor', detail: 'required' }]));
    }
    if (registry.get(vendor) === undefined) {
      return asProblem(httpError('unknown_vendor', `unknown vendor "${vendor.slice(0, 64)}"`, [{ field: 'vendor', detail: 'unknown vendor' }]));
    }
    // callback_url: as POST /jobs, only to a host on this client's allowlist.
    let callback: { callback_url: string; client_id: string } | undefined;
    if (sub.callbackUrl !== undefined) {
      const check = checkCallbackUrl(sub.callbackUrl, opts.callbackClients?.get(client));
      if (!check.ok) {
        return asProblem(httpError('callback_not_allowed', `callback_url: ${check.reason}`, [{ field: 'callback_url', detail: check.reason }]));
      }
      callback = { callback_url: check.url.href, client_id: client };
    }
    const scopedKey = key === undefined ? undefined : scopedIdempotencyKey(client, 'POST /jobs', key as string);
    return {
      index,
      ...(scopedKey === undefined ? {} : { scopedKey }),
      job: {
        request_id: newRequestId(at.getTime()),
        vendor,
        payload: sub.payload,
        priority: sub.priority,
        ...(scopedKey === undefined ? {} : { idempotency_key: scopedKey }),
        ...(callback ?? {}),
        deadline_at: new Date(at.getTime() + pendingTimeoutMs),
      },
    };
  }

  /** SET NX PX for every keyed item, one pipeline; returns the items whose claim held. */
  async function claimKeys(items: ValidItem[]): Promise<{ held: Set<ValidItem>; release: () => Promise<void> }> {
    const keyed = items.filter((i) => i.scopedKey !== undefined);
    const held = new Set<ValidItem>();
    if (keyed.length === 0) return { held, release: async () => undefined };
    const pipeline = redis.pipeline();
    for (const i of keyed) pipeline.set(markerOf(i.scopedKey!), '1', 'PX', IN_FLIGHT_TTL_MS, 'NX');
    let replies: Array<[Error | null, unknown]> | null;
    try {
      replies = await pipeline.exec();
    } catch (e) {
      throw unavailable('queue (Redis)', e);
    }
    let failed: Error | undefined;
    keyed.forEach((item, k) => {
      const [err, reply] = replies?.[k] ?? [new Error('no reply'), null];
      if (err) failed ??= err;
      else if (reply === 'OK') held.add(item);
    });
    const release = async () => {
      if (held.size === 0) return;
      const del = redis.pipeline();
      for (const i of held) del.del(markerOf(i.scopedKey!));
      await del.exec();
    };
    if (failed) {
      await release().catch(() => undefined); // they expire anyway; the outage is the news
      throw unavailable('queue (Redis)', failed);
    }
    return { held, release };
  }

  const router = Router();

  router.post('/jobs/batch', ...json, async (req, res: Response) => {
    const body: unknown = req.body;
    const list = isPlainObject(body) ? body['jobs'] : undefined;
    if (!Array.isArray(list)) throw validationError([{ field: 'jobs', detail: 'the body must be {"jobs": [ ... ]}, an array of jobs' }]);
    if (list.length === 0) throw validationError([{ field: 'jobs', detail: 'must hold at least one job' }]);
    if (list.length > maxJobs) {
      throw httpError('payload_too_large', `a batch holds at most ${maxJobs} jobs; this one has ${list.length}`, [
        { field: 'jobs', detail: `at most ${maxJobs} jobs` },
      ]);
    }

    const at = now();
    const client = String(res.locals['clientId'] ?? ANONYMOUS_CLIENT);
    // Measuring an item costs a stringify: only when the whole body could hold a too-large one.
    const measure = !(Number(req.headers['content-length']) <= itemLimit);
    const results: Array<BatchItemResult | undefined> = new Array<BatchItemResult | undefined>(list.length);
    const problemAt = (index: number, p: Problem) => {
      results[index] = { status: p.status, problem: { ...p, type: problemTypeUri(res, p.type) } };
    };
    const valid: ValidItem[] = [];
    list.forEach((raw, index) => {
      const checked = checkItem(raw, index, at, client, measure);
      if ('job' in checked) valid.push(checked);
      else problemAt(index, checked);
    });

    const { held, release } = await claimKeys(valid);
    try {
      const toStore: ValidItem[] = [];
      for (const i of valid) {
        if (i.scopedKey === undefined || held.has(i)) toStore.push(i);
        else problemAt(i.index, toProblem(idempotencyKeyInFlight()));
      }

      let outcomes: CreateOutcome[];
      try {
        outcomes = toStore.length === 0 ? [] : await store.createMany(toStore.map((i) => i.job), at);
      } catch (e) {
        throw asStoreError(e);
      }

      // Created jobs go to the queue, per vendor (each into its lane); the rest are answered now.
      const byVendor = new Map<string, ValidItem[]>();
      toStore.forEach((item, k) => {
        const o = outcomes[k]!;
        if (!o.ok) return problemAt(item.index, toProblem(o.error));
        if (!o.created) {
          // As POST /jobs: the priority is part of the request, so another one is another request.
          if (
            o.job.priority !== item.job.priority ||
            canonicalFingerprint(o.job.vendor, o.job.payload) !== canonicalFingerprint(item.job.vendor, item.job.payload)
          ) {
            return problemAt(item.index, toProblem(idempotencyKeyReused()));
          }
          results[item.index] = { status: 202, request_id: o.job.request_id, replayed: true };
          return;
        }
        const group = byVendor.get(item.job.vendor) ?? [];
        group.push(item);
        byVendor.set(item.job.vendor, group);
      });

      await Promise.all(
        [...byVendor].map(async ([vendor, items]) => {
          const queued = await enqueueMany(
            redis,
            vendor,
            items.map((i) => ({ requestId: i.job.request_id, lane: i.job.priority })),
          );
          let ok = 0;
          await Promise.all(
            items.map(async (item, k) => {
              const entry = queued[k]!;
              if (typeof entry === 'string') {
                ok++;
                results[item.index] = { status: 202, request_id: item.job.request_id };
                return;
              }
              // The undo of POST /jobs: a job never queued is deleted, so the 503 means "not accepted".
              await store.delete(item.job.request_id).catch((undoErr: unknown) => {
                logger.warn(
                  { request_id: item.job.request_id, vendor, err: undoErr },
                  'queue and store both failing: job left pending, the sweeper will queue it at its deadline',
                );
              });
              problemAt(item.index, toProblem(unavailable('queue (Redis)', entry)));
            }),
          );
          if (ok > 0) metrics.jobsSubmitted.inc({ vendor }, ok);
        }),
      );
    } finally {
      await release().catch((err: unknown) => {
        // The markers expire on their own (IN_FLIGHT_TTL_MS); until then repeats get 409.
        logger.warn({ err }, 'could not clear Idempotency-Key in-flight markers of a batch');
      });
    }

    const answer: BatchAnswer = { accepted: 0, rejected: 0, results: results as BatchItemResult[] };
    for (const r of answer.results) {
      if ('request_id' in r) answer.accepted++;
      else answer.rejected++;
    }
    res.status(200).json(answer);
  });

  return router;
}
