// Operator routes for jobs that died (status `failed`): see them, and bring them back.
//   GET  /vendors/{vendor}/dead-letters          — each failed job: reason, attempts, last error
//   POST /vendors/{vendor}/dead-letters/replay   — {"request_ids": [...]} or {"all": true}
// Admin key only (api/access.ts adminGuard, mounted by app.ts).
//
// The list comes from the store, not from the dead-letter stream (core/queue.ts deadLetter):
// the store is the truth and keeps every failed job until retention, while the stream is
// capped, lost with Redis' data, and still names jobs that were replayed since. The stream
// stays what it was: a capped log of deaths, for whoever tails it.
//
// A replay is the store's compare-and-set failed → pending (a fresh attempt budget, the same
// fence), THEN the queue write, so of two concurrent replays of one job exactly one queues it.
// If the queue write fails, the job is pending with a deadline and the sweeper queues it then.
import { Router } from 'express';
import { z } from 'zod';
import { isVendorfetchError, unavailable } from '../core/errors.js';
import { DEFAULT_PRIORITY, type JobMeta } from '../core/job.js';
import { enqueue } from '../core/queue.js';
import { dnsLabel } from '../core/vendorpool.js';
import type { ApiDeps } from './deps.js';
import { DEFAULT_MAX_JSON_DEPTH, jsonBody } from './json-body.js';
import type { ApiMetrics } from './metrics.js';
import { httpError, validationError, type FieldError } from './problem.js';
import { isRequestId } from './submission.js';

/** Most ids one replay takes, and most jobs one `{"all": true}` replays (call again while `more`). */
export const MAX_REPLAY = 1000;
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;

const uuid = z.string().refine(isRequestId, 'must be a request_id (a UUID)').meta({ format: 'uuid' });

export const replayRequestSchema = z
  .object({
    request_ids: z.array(uuid).min(1).max(MAX_REPLAY).optional().describe(`The failed jobs to replay (1–${MAX_REPLAY}).`),
    all: z.literal(true).optional().describe(`Replay every failed job of the vendor, oldest first, up to ${MAX_REPLAY} per call (\`more\` says whether to call again).`),
  })
  .strict()
  .refine((b) => (b.request_ids === undefined) !== (b.all === undefined), 'give exactly one of "request_ids" or "all": true')
  .describe('Exactly one of `request_ids` or `"all": true`.');

export interface DeadLetterView {
  request_id: string;
  /** Why it died: the code of its last error (`vendor_error`, `vendor_rejected`, `callback_timeout`, `worker_lost`, …). */
  reason: string;
  /** Vendor calls started for the job, over its whole life. */
  attempts: number;
  last_error: string;
  created_at: string;
  failed_at?: string;
}

export interface DeadLetterPage {
  vendor: string;
  dead_letters: DeadLetterView[];
  /** Pass as `cursor` for the next page; absent on the last one. */
  next_cursor?: string;
}

export interface ReplayAnswer {
  vendor: string;
  /** Back to pending and queued (each logged and counted). */
  replayed: string[];
  /** Not replayed: unknown (or another vendor's) job, or not failed (any more): a concurrent replay won. */
  not_replayed: Array<{ request_id: string; reason: 'not_found' | 'not_failed' }>;
  /** `all` only: failed jobs are left (more than one call takes). */
  more: boolean;
}

/** The code of an error such as `vendor_error: HTTP 503`: what the job died of. */
export const reasonOf = (error: string | undefined): string => (error ?? 'unknown').split(':', 1)[0]!.trim() || 'unknown';

export function deadLetterView(job: JobMeta): DeadLetterView {
  const view: DeadLetterView = {
    request_id: job.request_id,
    reason: reasonOf(job.error),
    attempts: job.attempts,
    last_error: job.error ?? '',
    created_at: job.created_at.toISOString(),
  };
  if (job.completed_at !== undefined) view.failed_at = job.completed_at.toISOString();
  return view;
}

const fromStore = async <T>(p: Promise<T>): Promise<T> => {
  try {
    return await p;
  } catch (e) {
    throw isVendorfetchError(e) ? e : unavailable('job store', e);
  }
};

function vendorParam(raw: unknown): string {
  const parsed = dnsLabel.safeParse(raw);
  if (!parsed.success) throw validationError([{ field: 'vendor', detail: 'must be a vendor name (a DNS label)' }]);
  return parsed.data;
}

function listLimit(raw: unknown): number {
  if (raw === undefined) return DEFAULT_LIST_LIMIT;
  const n = typeof raw === 'string' && /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= MAX_LIST_LIMIT)) throw validationError([{ field: 'limit', detail: `must be an integer from 1 to ${MAX_LIST_LIMIT}` }]);
  return n;
}

export function deadLettersRouter(deps: ApiDeps, metrics: ApiMetrics): Router {
  const { store, redis, registry, logger } = deps;
  const opts = deps.options ?? {};
  const now = deps.now ?? (() => new Date());
  const pendingTimeoutMs = (opts.pendingTimeoutSeconds ?? 600) * 1000;
  const json = jsonBody({ limit: opts.bodyLimit ?? '256kb', maxDepth: opts.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH });

  const router = Router();

  router.get('/vendors/:vendor/dead-letters', async (req, res) => {
    const vendor = vendorParam(req.params['vendor']);
    const limit = listLimit(req.query['limit']);
    const cursor = req.query['cursor'];
    if (cursor !== undefined && !isRequestId(cursor)) throw validationError([{ field: 'cursor', detail: 'must be a next_cursor from an earlier page' }]);
    // One more than asked: tells whether a next page exists without another query.
    const jobs = await fromStore(store.listFailed(vendor, limit + 1, cursor));
    const page: DeadLetterPage = { vendor, dead_letters: jobs.slice(0, limit).map(deadLetterView) };
    if (jobs.length > limit) page.next_cursor = jobs[limit - 1]!.request_id;
    res.json(page);
  });

  router.post('/vendors/:vendor/dead-letters/replay', ...json, async (req, res) => {
    const vendor = vendorParam(req.params['vendor']);
    const body = replayRequestSchema.safeParse(req.body ?? {});
    if (!body.success) {
      throw validationError(body.error.issues.map((i): FieldError => ({ field: i.path.join('.') || 'body', detail: i.message })));
    }
    // Replaying to a vendor no pool serves would only park the jobs until the sweeper fails them again.
    if (registry.get(vendor) === undefined) throw httpError('unknown_vendor', `unknown vendor "${vendor}"`, [{ field: 'vendor', detail: 'unknown vendor' }]);

    const ids = body.data.request_ids ?? (await fromStore(store.listFailed(vendor, MAX_REPLAY))).map((j) => j.request_id);
    const answer: ReplayAnswer = { vendor, replayed: [], not_replayed: [], more: false };
    const admin = res.locals['adminId'] as string | undefined;
    for (const id of new Set(ids)) {
      const at = now();
      if (!(await fromStore(store.replayFailed(id, vendor, new Date(at.getTime() + pendingTimeoutMs), at)))) {
        const job = await fromStore(store.get(id));
        answer.not_replayed.push({ request_id: id, reason: job === null || job.vendor !== vendor ? 'not_found' : 'not_failed' });
        continue;
      }
      answer.replayed.push(id);
      metrics.deadLettersReplayed.inc({ vendor });
      try {
        // Into the job's own lane: a replay keeps the priority it was submitted with.
        const lane = (await store.get(id))?.priority ?? DEFAULT_PRIORITY;
        await enqueue(redis, vendor, id, lane);
        logger.info({ request_id: id, vendor, admin }, 'dead letter replayed: job pending and queued again');
      } catch (err) {
        logger.warn({ request_id: id, vendor, admin, err }, 'dead letter replayed, but the queue write failed: the sweeper queues the pending job at its deadline');
      }
    }
    if (body.data.all) answer.more = (await fromStore(store.listFailed(vendor, 1))).length > 0;
    res.json(answer);
  });

  return router;
}
