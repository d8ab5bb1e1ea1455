// The api's wire shapes as zod schemas: the source of the OpenAPI document's components
// (api/openapi.ts turns them into JSON Schema with z.toJSONSchema). The hot path does not parse
// with them (api/submission.ts says why); instead the api tests check every response against
// the document they produce, and the type checks below tie them to the handlers' own types,
// so a field added on one side only fails the build or a test.
import { z } from 'zod';
import { CALLBACK_STATES, DEFAULT_PRIORITY, JOB_STATUSES, PRIORITIES } from '../core/job.js';
import { callbackUrlSchema } from './submission.js';
import type { JobView } from './jobs.js';
import type { Problem } from './problem.js';
import { webhookBodySchema } from './webhook.js';
import { replayRequestSchema, type DeadLetterPage, type ReplayAnswer } from './dead-letters.js';
import type { BatchAnswer } from './batch.js';
import type { JobPage } from './list.js';
import type { VendorsAnswer } from './vendor-status.js';

/** Any UUID (we mint v7; older ids and vendors' echoes may be any version). */
const uuid = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/).meta({ format: 'uuid' });
const timestamp = z.iso.datetime().describe('RFC 3339, UTC');
const priority = z
  .enum(PRIORITIES)
  .describe(
    "The job's lane in its vendor's queue. Within the vendor's quota, higher lanes go first: while all three have work, workers read them 6:3:1 (high 60 %, normal 30 %, low 10 %), so low is never starved; a lane with less work gives its share to the others.",
  );

export const problemSchema = z
  .object({
    type: z.url().describe('Absolute URI of the problem type; GET it for a page that explains the problem (`/problems/{code}`).'),
    title: z.string(),
    status: z.int(),
    detail: z.string().optional(),
    errors: z
      .array(z.object({ field: z.string(), detail: z.string() }))
      .optional()
      .describe('One entry per bad field (validation problems).'),
  })
  .describe('RFC 9457 problem details.');

export const jobRequestSchema = z
  .object({
    vendor: z.string().optional().describe('A vendor declared in a VendorPool; without it the configured default vendor (else 422).'),
    payload: z.record(z.string(), z.unknown()).optional().describe('Sent to the vendor as is; without it the rest of the body is the payload.'),
    priority: priority.default(DEFAULT_PRIORITY).optional(),
    callback_url: callbackUrlSchema.optional(),
  })
  .catchall(z.unknown())
  .describe('Lenient forms: without `payload`, the rest of the body is the payload; without `vendor`, the configured default vendor is used (else 422).');

export const acceptedSchema = z.object({ request_id: uuid });

export const jobSchema = z.object({
  request_id: uuid,
  vendor: z.string(),
  priority,
  status: z.enum(JOB_STATUSES),
  attempts: z.int().min(0).describe('Vendor calls started for this job.'),
  result: z.unknown().optional().describe('The cleaned vendor answer (complete jobs).'),
  error: z.string().optional().describe('The last error, e.g. callback_timeout.'),
  created_at: timestamp,
  updated_at: timestamp,
  completed_at: timestamp.optional(),
  from_cache: z.literal(true).optional().describe('Completed from the vendor\'s result cache (VendorPool `cache.ttlSeconds`), without a vendor call; absent otherwise.'),
  callback_url: z.string().optional().describe('The completion callback target given at submit.'),
  callback: z
    .object({
      state: z.enum(CALLBACK_STATES).describe('pending: not finished or not yet delivered (retrying); delivered: a 2xx was received; failed: dead-lettered after the last attempt, or refused (address, redirect, allowlist).'),
      attempts: z.int().min(0).describe('Delivery attempts made so far.'),
      last_error: z.string().optional().describe('Why the last attempt failed, e.g. `receiver_error: HTTP 503`, `redirect_refused: HTTP 302`, `address_refused: …`.'),
      delivered_at: timestamp.optional(),
    })
    .optional()
    .describe('Delivery of the completion callback (jobs submitted with callback_url).'),
});

export const batchRequestSchema = z
  .object({
    jobs: z
      .array(
        jobRequestSchema.extend({
          idempotency_key: z
            .string()
            .regex(/^[\x21-\x7e]{1,255}$/)
            .optional()
            .describe("This job's Idempotency-Key: scoped like POST /jobs' header (the same key there and here names the same job). Not part of the payload."),
        }),
      )
      .min(1)
      .describe('1 to VF_BATCH_MAX_JOBS (default 1000) jobs, each in a form POST /jobs takes.'),
  })
  .describe('Jobs to submit at once; each is checked, stored and queued as POST /jobs would, and answered on its own.');

export const batchAnswerSchema = z.object({
  accepted: z.int().min(0).describe('Items stored and queued (Idempotency-Key replays included).'),
  rejected: z.int().min(0).describe('Items refused, each with its problem.'),
  results: z
    .array(
      z.union([
        z.object({
          status: z.literal(202),
          request_id: uuid,
          replayed: z.literal(true).optional().describe('Its Idempotency-Key was used before: this is the first job.'),
        }),
        z.object({ status: z.int().min(400).max(599), problem: problemSchema }),
      ]),
    )
    .describe("One per job, in the request's order: its request_id, or the problem POST /jobs would have answered with for it."),
});

export const jobPageSchema = z.object({
  jobs: z.array(jobSchema.extend({ payload: z.unknown().optional().describe('With `include=payload`.') })),
  next_cursor: uuid.optional().describe('Pass as `cursor` for the next page; absent on the last page.'),
});

export const vendorsAnswerSchema = z.object({
  vendors: z.array(
    z.object({
      name: z.string(),
      pool: z.string().describe('The owning VendorPool, namespace/name (local mode: local/<name>).'),
      mode: z.enum(['sync', 'async']),
      quota: z.object({
        requests_per_second: z.number(),
        burst: z.number(),
        max_in_flight: z.int().min(0).describe('0: unlimited.'),
        used_last_second: z.int().min(0).describe('Calls granted in the last rolling second, across every worker.'),
        in_flight: z.int().min(0).describe('Calls open now.'),
        slowed_down_ms: z.int().min(0).describe("> 0 while the pool waits out the vendor's 429 + Retry-After."),
      }),
      breaker: z.string().describe('closed | open | half-open, as the workers publish it; unknown when no worker did yet.'),
      lag: z.int().min(0).describe('Jobs queued, not yet delivered to a worker (summed over the priority lanes).'),
      pending: z.int().min(0).describe('Delivered to a worker, not yet acknowledged (summed over the priority lanes).'),
      paused: z.boolean().describe('spec.vendors[].paused of its VendorPool: while true, workers call nothing and its jobs wait.'),
    }),
  ),
});

export const webhookAnswerSchema = z.object({
  status: z.enum(['completed', 'duplicate', 'ignored']).describe('ignored: the job was already finished, or never sent to the vendor.'),
});

export const deadLetterSchema = z.object({
  request_id: uuid,
  reason: z.string().describe('What the job died of: the code of its last error, e.g. vendor_error, vendor_rejected, callback_timeout, worker_lost.'),
  attempts: z.int().min(0).describe('Vendor calls started for the job over its whole life.'),
  last_error: z.string().describe('The last error in full, e.g. `vendor_error: HTTP 503`.'),
  created_at: timestamp,
  failed_at: timestamp.optional(),
});

export const deadLetterPageSchema = z.object({
  vendor: z.string(),
  dead_letters: z.array(deadLetterSchema),
  next_cursor: uuid.optional().describe('Pass as `cursor` for the next page; absent on the last page.'),
});

export const replayAnswerSchema = z.object({
  vendor: z.string(),
  replayed: z.array(uuid).describe('Back to pending with a fresh attempt budget, and queued.'),
  not_replayed: z
    .array(z.object({ request_id: uuid, reason: z.enum(['not_found', 'not_failed']) }))
    .describe('not_found: no such job of this vendor; not_failed: not failed (any more), e.g. a concurrent replay won.'),
  more: z.boolean().describe('With `all`: failed jobs remain; call again.'),
});

export const healthSchema = z.object({ status: z.literal('ok') });
export const readySchema = z.object({ status: z.literal('ready') });

/** Named components: requests are read leniently (extra fields allowed), answers exactly. */
export const requestSchemas = {
  JobRequest: jobRequestSchema,
  BatchRequest: batchRequestSchema,
  // The handler's own schema (its refinements do not survive the conversion: say them here).
  ReplayRequest: replayRequestSchema,
  WebhookBody: webhookBodySchema.describe('`request_id` (a UUID) or its alias `job_id` is required, and `data`: the vendor\'s answer.'),
} as const;
export const responseSchemas = {
  Problem: problemSchema,
  Accepted: acceptedSchema,
  Job: jobSchema,
  BatchAnswer: batchAnswerSchema,
  JobPage: jobPageSchema,
  Vendors: vendorsAnswerSchema,
  WebhookAnswer: webhookAnswerSchema,
  DeadLetterPage: deadLetterPageSchema,
  ReplayAnswer: replayAnswerSchema,
  Health: healthSchema,
  Ready: readySchema,
} as const;

// Compile-time ties to the handlers' types: each must be assignable both ways.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameJob: Same<z.infer<typeof jobSchema>, JobView> = true;
const sameProblem: Same<z.infer<typeof problemSchema>, Problem> = true;
const sameDeadLetterPage: Same<z.infer<typeof deadLetterPageSchema>, DeadLetterPage> = true;
const sameReplayAnswer: Same<z.infer<typeof replayAnswerSchema>, ReplayAnswer> = true;
const sameBatchAnswer: Same<z.infer<typeof batchAnswerSchema>, BatchAnswer> = true;
const sameJobPage: Same<z.infer<typeof jobPageSchema>, JobPage> = true;
const sameVendors: Same<z.infer<typeof vendorsAnswerSchema>, VendorsAnswer> = true;
void sameVendors;
void sameBatchAnswer;
void sameJobPage;
void sameDeadLetterPage;
void sameReplayAnswer;
void sameJob;
void sameProblem;
