// The api's wire shapes as zod schemas: the source of the OpenAPI document's components
// (api/openapi.ts turns them into JSON Schema with z.toJSONSchema). The hot path does not parse
// with them (api/submission.ts says why); instead the api tests check every response against
// the document they produce, and the type checks below tie them to the handlers' own types,
// so a field added on one side only fails the build or a test.
import { z } from 'zod';
import { CALLBACK_STATES, JOB_STATUSES } from '../core/job.js';
import { callbackUrlSchema } from './submission.js';
import type { JobView } from './jobs.js';
import type { Problem } from './problem.js';
import { webhookBodySchema } from './webhook.js';
import { replayRequestSchema, type DeadLetterPage, type ReplayAnswer } from './dead-letters.js';

/** Any UUID (we mint v7; older ids and vendors' echoes may be any version). */
const uuid = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/).meta({ format: 'uuid' });
const timestamp = z.iso.datetime().describe('RFC 3339, UTC');

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
    callback_url: callbackUrlSchema.optional(),
  })
  .catchall(z.unknown())
  .describe('Lenient forms: without `payload`, the rest of the body is the payload; without `vendor`, the configured default vendor is used (else 422).');

export const acceptedSchema = z.object({ request_id: uuid });

export const jobSchema = z.object({
  request_id: uuid,
  vendor: z.string(),
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
  // The handler's own schema (its refinements do not survive the conversion: say them here).
  ReplayRequest: replayRequestSchema,
  WebhookBody: webhookBodySchema.describe('`request_id` (a UUID) or its alias `job_id` is required, and `data`: the vendor\'s answer.'),
} as const;
export const responseSchemas = {
  Problem: problemSchema,
  Accepted: acceptedSchema,
  Job: jobSchema,
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
void sameDeadLetterPage;
void sameReplayAnswer;
void sameJob;
void sameProblem;
