// POST /vendor-webhook/:vendor — async vendors deliver their answer here.
//
// Order of checks, and why:
// 1. vendor known and async → else 404: the URL names no webhook endpoint (not 422: nothing
//    in the body is wrong, the resource does not exist).
// 2. signature over the RAW bytes (before any JSON parsing) → else 401; unauthenticated
//    callers learn nothing about jobs.
// 3. body shape → 400.
// 4. replay guard on webhook-id (SET NX GET EX): a repeated delivery → 200, nothing changes;
//    a repeat while the first copy is still being handled → 409 + Retry-After. The mark is
//    removed again unless we answer 200, so a vendor that retries after our 5xx (or a 404 for
//    a job it got wrong) is heard again instead of being told "done".
// 5. job exists (404), belongs to this vendor (409), not finished (200, unchanged), then
//    clean → store.completeByCallback (compare-and-set: a concurrent duplicate cannot complete
//    it twice; a pending job with a retry scheduled is completed too, and its retry dropped).
import express, { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { clean } from '../core/clean.js';
import { isVendorfetchError, unavailable } from '../core/errors.js';
import { isFinished, type Job } from '../core/job.js';
import { keys } from '../core/keys.js';
import { WEBHOOK_ROUTE } from '../core/webhook-route.js';
import * as queue from '../core/queue.js';
import { createLimiter, ipRateLimit, WEBHOOK_RATE_LIMIT_PREFIX } from './access.js';
import type { ApiDeps } from './deps.js';
import type { ApiMetrics, WebhookResult } from './metrics.js';
import { DEFAULT_MAX_JSON_DEPTH, parseJsonText } from './json-body.js';
import { httpError, validationError } from './problem.js';
import { DEFAULT_TOLERANCE_SECONDS, verifyWebhook } from './signature.js';
import { isRequestId } from './submission.js';

/** Webhook requests per second per source IP unless configured (0 turns the limit off). */
export const DEFAULT_WEBHOOK_RATE_LIMIT = 1000;

/** Replay-guard values: a delivery being handled, and one answered 200. */
const SEEN_PROCESSING = 'processing';
const SEEN_DONE = 'done';

const requestIdSchema = z.string().refine(isRequestId, 'must be a request_id (a UUID)');

/** `{request_id | job_id, data}`; compiled once at load. */
export const webhookBodySchema = z
  .object({
    request_id: requestIdSchema.optional(),
    job_id: requestIdSchema.optional(),
    data: z.unknown(),
  })
  .refine((b) => b.request_id !== undefined || b.job_id !== undefined, {
    message: 'request_id (or its alias job_id) is required',
    path: ['request_id'],
  })
  .refine((b) => b.data !== undefined, { message: 'required', path: ['data'] });

/** Parse and validate a webhook body: the job id and the vendor's data, or the field errors. */
export function parseWebhookBody(raw: Buffer, maxDepth = DEFAULT_MAX_JSON_DEPTH) {
  // Same limits as POST /jobs: the data is cleaned and stored, and both walk it.
  const body = parseJsonText(raw.toString('utf8'), maxDepth);
  const r = webhookBodySchema.safeParse(body);
  if (!r.success) {
    throw validationError(
      r.error.issues.map((i) => ({ field: i.path.length ? i.path.join('.') : 'body', detail: i.message })),
    );
  }
  return { requestId: (r.data.request_id ?? r.data.job_id) as string, data: r.data.data };
}

const header = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(' ') : v);

export function webhookRouter(deps: ApiDeps, metrics: ApiMetrics): Router {
  const { store, redis, registry, secrets, logger } = deps;
  const opts = deps.options ?? {};
  const now = deps.now ?? (() => new Date());
  const tolerance = opts.webhookToleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  // A webhook-id must be remembered as long as its timestamp can pass the tolerance check:
  // from ts - tolerance to ts + tolerance, plus a margin for clock skew between replicas.
  const seenTtlSeconds = 2 * tolerance + 60;
  const raw = express.raw({ limit: opts.bodyLimit ?? '256kb', type: () => true });
  const count = (vendor: string, result: WebhookResult) => metrics.webhooks.inc({ vendor, result });

  const webhookLimit = opts.webhookRateLimit ?? DEFAULT_WEBHOOK_RATE_LIMIT;
  const limited: RequestHandler[] =
    webhookLimit > 0 ? [ipRateLimit(webhookLimit, createLimiter(redis, webhookLimit, WEBHOOK_RATE_LIMIT_PREFIX, logger))] : [];

  // Before the body is read: a caller naming no webhook endpoint must not make us buffer up
  // to the body limit first (256 KiB per request is cheap to send and costly to hold).
  const knownVendor: RequestHandler = (req, res, next) => {
    const vendor = String(req.params['vendor'] ?? '');
    const entry = registry.get(vendor);
    if (!entry || entry.spec.mode !== 'async' || !entry.spec.webhookSecretRef) {
      count('_unknown', 'unknown_vendor'); // not the name: a caller must not grow the label set
      // Close the connection: the unread body must not be parsed as the next request.
      res.setHeader('Connection', 'close');
      next(httpError('not_found', `no webhook endpoint for vendor "${vendor.slice(0, 64)}"`));
      return;
    }
    next();
  };

  const router = Router();
  router.post(`${WEBHOOK_ROUTE}/:vendor`, ...limited, knownVendor, raw, async (req, res) => {
    const vendor = String(req.params['vendor'] ?? '');
    const entry = registry.get(vendor);
    const secretRef = entry?.spec.mode === 'async' ? entry.spec.webhookSecretRef : undefined;
    if (!entry || !secretRef) {
      // The registry changed while the body was read.
      count('_unknown', 'unknown_vendor');
      throw httpError('not_found', `no webhook endpoint for vendor "${vendor.slice(0, 64)}"`);
    }
    const namespace = entry.pool.includes('/') ? entry.pool.slice(0, entry.pool.indexOf('/')) : undefined;
    const secret = await secrets.resolve(secretRef, namespace);
    if (secret === undefined) {
      // An operator's mistake, not the vendor's: 503 so the vendor retries once it is fixed.
      logger.error({ vendor, secret_ref: secretRef.name }, 'webhook secret not found; cannot verify webhooks');
      count(vendor, 'error');
      throw unavailable('webhook verification');
    }

    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const webhookId = header(req.headers['webhook-id']);
    const verified = verifyWebhook(
      { id: webhookId, timestamp: header(req.headers['webhook-timestamp']), signature: header(req.headers['webhook-signature']) },
      rawBody,
      secret,
      now().getTime(),
      tolerance,
    );
    if (!verified.ok) {
      count(vendor, verified.reason === 'stale' ? 'stale' : 'bad_signature');
      if (verified.reason === 'bad_secret') logger.error({ vendor }, 'webhook secret is not a whsec_<base64> value');
      throw httpError('unauthorized', `webhook signature rejected (${verified.reason.replace('_', ' ')})`);
    }

    let parsed: ReturnType<typeof parseWebhookBody>;
    try {
      parsed = parseWebhookBody(rawBody, opts.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH);
    } catch (e) {
      count(vendor, 'invalid');
      throw e;
    }

    res.locals['request_id'] = parsed.requestId;
    const seenKey = keys.webhookSeen(vendor, webhookId as string);
    let previous: unknown;
    try {
      // One round trip: claim the id, or learn how far the earlier delivery got (Redis ≥ 7.0).
      previous = await redis.call('SET', seenKey, SEEN_PROCESSING, 'NX', 'GET', 'EX', String(seenTtlSeconds));
    } catch (e) {
      count(vendor, 'error');
      throw unavailable('Redis', e);
    }
    if (previous === SEEN_DONE) {
      count(vendor, 'duplicate');
      res.json({ status: 'duplicate' });
      return;
    }
    if (previous !== null) {
      // The same delivery is being handled right now. Not 200: if that attempt fails, this
      // copy must not have been told "done"; the vendor retries and then hears "duplicate".
      count(vendor, 'duplicate');
      res.setHeader('Retry-After', '1');
      throw httpError('conflict', `webhook ${String(webhookId)} is being processed; deliver again later`);
    }

    let answered = false;
    try {
      let job: Job | null;
      try {
        job = await store.get(parsed.requestId);
      } catch (e) {
        count(vendor, 'error');
        throw isVendorfetchError(e) ? e : unavailable('job store', e);
      }
      if (job === null) {
        count(vendor, 'unknown_job');
        throw httpError('not_found', `no job ${parsed.requestId}`);
      }
      if (job.vendor !== vendor) {
        count(vendor, 'wrong_vendor');
        throw httpError('conflict', `job ${parsed.requestId} belongs to another vendor`);
      }
      let completed = false;
      if (!isFinished(job.status)) {
        const cleaned = clean(parsed.data, entry.spec.cleaning);
        try {
          // Also from `pending`: our call timed out but the vendor had accepted the job, and a
          // retry is scheduled. Its answer is here, so the retry (another paid call) is not needed.
          completed = await store.completeByCallback(parsed.requestId, cleaned, now());
        } catch (e) {
          count(vendor, 'error');
          throw isVendorfetchError(e) ? e : unavailable('job store', e);
        }
        if (completed) {
          await queue.forgetJob(redis, vendor, parsed.requestId).catch((err: unknown) => {
            // Tidying only: a retry promoted later finds the job complete and is dropped.
            logger.warn({ err, request_id: parsed.requestId, vendor }, 'could not cancel the scheduled retry of a job completed by webhook');
          });
        }
      }
      // Not completed: the job was already finished, or was never sent to the vendor. Either
      // way nothing changes; 200 so the vendor stops delivering.
      count(vendor, completed ? 'completed' : 'ignored');
      logger.info({ request_id: parsed.requestId, vendor, completed }, 'webhook received');
      await redis.set(seenKey, SEEN_DONE, 'EX', seenTtlSeconds).catch(() => {
        // The mark stays "processing" until its TTL: a repeat meanwhile gets 409 and retries;
        // the job is complete either way and a later repeat changes nothing (CAS).
      });
      answered = true;
      res.json({ status: completed ? 'completed' : 'ignored' });
    } finally {
      if (!answered) {
        await redis.del(seenKey).catch((err: unknown) => {
          // The mark then lives out its TTL: repeats get 409 until then, and the vendor retries.
          logger.warn({ err, vendor, request_id: parsed.requestId }, 'could not clear a webhook replay mark after a failed delivery');
        });
      }
    }
  });
  return router;
}
