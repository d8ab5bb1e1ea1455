// The OpenAPI 3.1 description served at /openapi.json. Component schemas are generated from the
// zod schemas in api/schemas.ts (z.toJSONSchema, JSON Schema 2020-12, which OpenAPI 3.1 uses);
// paths, status codes and prose are written here, next to each other, because the lenient
// forms of POST /jobs read better as prose than as schema. Every response the api tests see is
// checked against this document (testing/api-app.ts), and the Postman collection in
// docs/postman/ is generated from it (scripts/postman.ts).
import { z } from 'zod';
import { WEBHOOK_ROUTE } from '../core/webhook-route.js';
import { requestSchemas, responseSchemas } from './schemas.js';

const ref = (name: keyof typeof requestSchemas | keyof typeof responseSchemas) => ({ $ref: `#/components/schemas/${name}` });

/** JSON Schema for each named zod schema, cross-referenced as #/components/schemas/<name>. */
function toComponents(schemas: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const out = z.toJSONSchema(registry, { io, uri: (id) => `#/components/schemas/${id}`, target: 'draft-2020-12' });
  // Each schema carries its own $schema/$id; inside an OpenAPI document they are noise.
  return Object.fromEntries(
    Object.entries(out.schemas).map(([id, s]) => {
      const { $schema: _schema, $id: _id, ...rest } = s as Record<string, unknown>;
      return [id, rest];
    }),
  );
}

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const json = (description: string, schema: object, headers?: Record<string, object>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema } },
});
const retryAfter = { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds to wait before trying again.' } };
const requestIdParam = { name: 'request_id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
/** Client routes: open, or a bearer API key when VF_API_KEYS is set. */
const clientSecurity = [{}, { bearer: [] }];
const unauthorized = problem('Missing or wrong API key (only when API keys are configured).');
/** Operator routes: an admin key (VF_ADMIN_API_KEYS) is always required. */
const adminSecurity = [{ adminBearer: [] }];
const adminUnauthorized = problem('No key, or a key that is neither an admin nor a client key.');
const adminForbidden = problem('A client key (admin routes need an admin key), or no admin key is configured at all: the admin routes are closed by default.');
const vendorParam = { name: 'vendor', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 } };
const rateLimited = problem('Client rate limit exceeded; see Retry-After.');

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'vendorfetch',
    version: '0.1.0',
    description:
      'One HTTP API in front of many external data vendors. Errors are RFC 9457 problem details whose `type` is an absolute URI of a page served by the api (`GET /problems/{code}`).',
  },
  servers: [
    { url: '/', description: 'The api that serves this document.' },
    { url: 'http://localhost:8080', description: 'Local mode (`npm start`).' },
  ],
  tags: [
    { name: 'jobs', description: 'Submit jobs and read their results.' },
    { name: 'dead letters', description: 'Operators (admin key): see the jobs that failed, and replay them.' },
    { name: 'vendors', description: "Operators (admin key): each vendor's quota use, breaker, lag and paused state." },
    { name: 'webhooks', description: 'Async vendors deliver their answers (Standard Webhooks signatures).' },
    { name: 'operations', description: 'Probes and documentation.' },
  ],
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'Only when API keys are configured (VF_API_KEYS).' },
      adminBearer: { type: 'http', scheme: 'bearer', description: 'An admin key (VF_ADMIN_API_KEYS), apart from the client keys. None configured: the admin routes answer 403.' },
    },
    schemas: { ...toComponents(requestSchemas, 'input'), ...toComponents(responseSchemas, 'output') },
  },
  paths: {
    '/jobs': {
      get: {
        operationId: 'listJobs',
        tags: ['jobs'],
        summary: 'List jobs, newest last, in cursor pages',
        description:
          'Jobs in request_id order (UUIDv7: creation order), filtered, each with its `priority`, without payloads or results unless `include` asks. Follow `next_cursor` until it is absent: a walk sees every job that existed when it began exactly once; jobs added meanwhile appear on later pages.',
        security: clientSecurity,
        parameters: [
          { name: 'vendor', in: 'query', required: false, schema: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 } },
          { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: ['pending', 'processing', 'complete', 'failed', 'cancelled'] } },
          { name: 'created_after', in: 'query', required: false, schema: { type: 'string', format: 'date-time' }, description: 'Only jobs created strictly after this RFC 3339 instant (with a zone).' },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
          { name: 'cursor', in: 'query', required: false, schema: { type: 'string', format: 'uuid' }, description: '`next_cursor` of the previous page.' },
          { name: 'include', in: 'query', required: false, schema: { type: 'string', pattern: '^(payload|result)(,(payload|result))?$' }, description: '`payload`, `result` or both (comma-separated): add them to each job.' },
        ],
        responses: {
          '200': json('One page of jobs.', ref('JobPage')),
          '400': problem('A bad vendor, status, created_after, limit, cursor or include (each listed in `errors`).'),
          '401': unauthorized,
          '429': { ...rateLimited, headers: retryAfter },
          '503': problem('Store unavailable.'),
        },
      },
      post: {
        operationId: 'submitJob',
        tags: ['jobs'],
        summary: 'Submit a job',
        description: 'Answers 202 only once the job is durably stored and queued.',
        security: clientSecurity,
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: false,
            schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
            description:
              'Scoped by client (API key) and route. A repeat with the same vendor, priority and payload (compared canonically) returns the same request_id (with `Idempotent-Replayed: true`) and creates nothing new; another body → 422; a repeat while the first is still being handled → 409 + Retry-After. Keys expire (default 24 h).',
          },
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: ref('JobRequest'),
              examples: {
                syncJob: { summary: 'A sync vendor: the answer is stored at once', value: { vendor: 'sync', payload: { company: 'acme' } } },
                asyncJob: { summary: 'An async vendor: the answer arrives later by webhook', value: { vendor: 'async', payload: { company: 'acme' } } },
                highPriority: { summary: 'A high-priority job: read ahead of normal and low ones of the same vendor', value: { vendor: 'sync', priority: 'high', payload: { company: 'acme' } } },
                lenient: { summary: 'Lenient form: without `payload` the rest of the body is the payload', value: { vendor: 'sync', company: 'acme' } },
                unknownVendor: { summary: 'A vendor no VendorPool declares → 422', value: { vendor: 'no-such-vendor', payload: { company: 'acme' } } },
                wrongTypes: { summary: 'Wrong types → 400, each bad field listed', value: { vendor: 42, payload: [1, 2] } },
                withCallback: {
                  summary: 'With a completion callback: the final state is POSTed to callback_url (its host must be on the client\'s allowlist, else 422)',
                  value: { vendor: 'sync', payload: { company: 'acme' }, callback_url: 'https://hooks.example.com/vendorfetch' },
                },
              },
            },
          },
        },
        responses: {
          '202': json('Stored and queued.', ref('Accepted'), {
            Location: { schema: { type: 'string' }, description: '/jobs/{request_id}' },
            'Idempotent-Replayed': { schema: { const: 'true' }, description: 'Present when an Idempotency-Key repeat returned the first job.' },
          }),
          '400': problem(
            'Malformed JSON, wrong types (each bad field listed in `errors`), JSON nested deeper than the limit (default 64 levels), or a number that is not finite (e.g. 1e400).',
          ),
          '401': unauthorized,
          '409': { ...problem('A request with this Idempotency-Key is still being handled; see Retry-After.'), headers: retryAfter },
          '413': problem('Body over the limit (default 256 KiB).'),
          '415': problem('A charset other than UTF-8.'),
          '422': problem('Unknown vendor, no vendor and no default vendor, an Idempotency-Key reused with another body, or a callback_url this client may not use (callback_not_allowed).'),
          '429': { ...rateLimited, headers: retryAfter },
          '503': problem('Store or Redis unavailable; nothing was written.'),
        },
      },
    },
    '/jobs/batch': {
      post: {
        operationId: 'submitJobBatch',
        tags: ['jobs'],
        summary: 'Submit many jobs at once, each answered on its own',
        description:
          'Up to VF_BATCH_MAX_JOBS (default 1000) jobs in one request, stored in ONE store write and queued with one pipeline of XADDs per vendor, each job into its priority lane. Each job is checked as POST /jobs checks a body (same forms, `priority`, default vendor, per-job size limit VF_BODY_LIMIT; an `idempotency_key` reused with another vendor, payload or priority → 422) and answered on its own in `results`, in order: 202 with its `request_id` (stored and queued), or its problem (400, 409, 413, 422, 503 — what POST /jobs would have answered for it). A job whose queue write fails is deleted again and answered 503: retry it (with its `idempotency_key`). Counts once against the client rate limit.',
        security: clientSecurity,
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: ref('BatchRequest'),
              examples: {
                two: {
                  summary: 'Two jobs, one with its own Idempotency-Key',
                  value: { jobs: [{ vendor: 'sync', payload: { company: 'acme' } }, { vendor: 'async', payload: { company: 'globex' }, idempotency_key: 'order-42' }] },
                },
                priorities: {
                  summary: 'Jobs of different priorities: each is queued into its own lane',
                  value: { jobs: [{ vendor: 'sync', priority: 'high', payload: { company: 'acme' } }, { vendor: 'sync', priority: 'low', payload: { company: 'globex' } }] },
                },
                mixed: { summary: 'One good job, one for an unknown vendor (its item gets 422)', value: { jobs: [{ vendor: 'sync', payload: { n: 1 } }, { vendor: 'no-such-vendor', payload: { n: 2 } }] } },
              },
            },
          },
        },
        responses: {
          '200': json('Every job answered on its own (see `results`).', ref('BatchAnswer')),
          '400': problem('Malformed JSON, not `{"jobs": [...]}`, no jobs, JSON nested deeper than the limit (per job, as POST /jobs), or a number that is not finite.'),
          '401': unauthorized,
          '413': problem('Body over the batch limit (VF_BATCH_BODY_LIMIT, default 5 MiB), or more jobs than VF_BATCH_MAX_JOBS (default 1000).'),
          '415': problem('A charset other than UTF-8.'),
          '429': { ...rateLimited, headers: retryAfter },
          '503': problem('Store or Redis unavailable before any job was stored; nothing was written.'),
        },
      },
    },
    '/jobs/{request_id}': {
      get: {
        operationId: 'getJob',
        tags: ['jobs'],
        summary: 'Read a job',
        security: clientSecurity,
        parameters: [requestIdParam],
        responses: {
          '200': json('The job (never its payload).', ref('Job')),
          '400': problem('Malformed request_id.'),
          '401': unauthorized,
          '404': problem('Unknown job.'),
          '429': { ...rateLimited, headers: retryAfter },
          '503': problem('Store unavailable.'),
        },
      },
    },
    '/jobs/{request_id}/cancel': {
      post: {
        operationId: 'cancelJob',
        tags: ['jobs'],
        summary: 'Cancel a job',
        description:
          'Pending or processing → `cancelled` (terminal). A job waiting in the queue, for quota or for a retry is never sent to the vendor; if its call is already in flight, the answer is dropped, and a late webhook changes nothing. A POST on a sub-route rather than DELETE, because the job stays readable (as `cancelled`) until retention removes it. Idempotent: cancelling a cancelled job answers 200 again.',
        security: clientSecurity,
        parameters: [requestIdParam],
        responses: {
          '200': json('The job, now (or already) cancelled.', ref('Job')),
          '400': problem('Malformed request_id.'),
          '401': unauthorized,
          '404': problem('Unknown job.'),
          '409': problem('The job is already complete or failed (`job-finished`).'),
          '429': { ...rateLimited, headers: retryAfter },
          '503': problem('Store unavailable; nothing changed.'),
        },
      },
    },
    '/vendors': {
      get: {
        operationId: 'listVendors',
        tags: ['vendors'],
        summary: "Every vendor: quota use, breaker state, stream lag, paused",
        description: 'From the registry and the live Redis state: calls granted in the last rolling second (Redis clock) and open now, the circuit state the workers publish, the stream backlog summed over the priority lanes, and `paused` (spec.vendors[].paused as published in the registry).',
        security: adminSecurity,
        responses: {
          '200': json('Every vendor of the registry, by name.', ref('Vendors')),
          '401': adminUnauthorized,
          '403': adminForbidden,
          '503': problem('Redis unavailable.'),
        },
      },
    },
    '/vendors/{vendor}/dead-letters': {
      get: {
        operationId: 'listDeadLetters',
        tags: ['dead letters'],
        summary: "A vendor's failed jobs: reason, attempts, last error",
        description: 'From the job store (the truth), oldest first (request_id order), in cursor pages. Failed jobs stay until retention deletes them.',
        security: adminSecurity,
        parameters: [
          vendorParam,
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
          { name: 'cursor', in: 'query', required: false, schema: { type: 'string', format: 'uuid' }, description: '`next_cursor` of the previous page.' },
        ],
        responses: {
          '200': json('One page of dead letters.', ref('DeadLetterPage')),
          '400': problem('Malformed vendor, limit or cursor.'),
          '401': adminUnauthorized,
          '403': adminForbidden,
          '503': problem('Store unavailable.'),
        },
      },
    },
    '/vendors/{vendor}/dead-letters/replay': {
      post: {
        operationId: 'replayDeadLetters',
        tags: ['dead letters'],
        summary: 'Return failed jobs to pending with a fresh attempt budget, and queue them again',
        description:
          'Each replay is a compare-and-set failed → pending (two concurrent replays of one job queue it once), then a queue write; each is logged and counted (`vendorfetch_dead_letters_replayed_total`). If the queue write fails, the sweeper queues the pending job at its deadline.',
        security: adminSecurity,
        parameters: [vendorParam],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: ref('ReplayRequest'),
              examples: {
                some: { summary: 'These failed jobs', value: { request_ids: ['0198c2a0-7b1e-7cc0-8f00-4a6f2b5d3e10'] } },
                all: { summary: 'Every failed job of the vendor (up to 1000 per call)', value: { all: true } },
              },
            },
          },
        },
        responses: {
          '200': json('What was replayed, and what was not (and why).', ref('ReplayAnswer')),
          '400': problem('Malformed JSON or vendor; not exactly one of `request_ids` (1–1000 UUIDs) or `"all": true`.'),
          '401': adminUnauthorized,
          '403': adminForbidden,
          '413': problem('Body over the limit.'),
          '415': problem('A charset other than UTF-8.'),
          '422': problem('Unknown vendor: no VendorPool serves it, so a replayed job could not run.'),
          '503': problem('Store unavailable.'),
        },
      },
    },
    [`${WEBHOOK_ROUTE}/{vendor}`]: {
      post: {
        operationId: 'deliverWebhook',
        tags: ['webhooks'],
        summary: 'Deliver an async vendor answer (Standard Webhooks signature)',
        description:
          'Signed with the vendor\'s `whsec_<base64>` secret: `webhook-signature` is `v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{raw body}`, keyed by the base64-decoded secret. Several space-separated signatures are accepted (secret rotation).',
        parameters: [
          { name: 'vendor', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'webhook-id', in: 'header', required: true, schema: { type: 'string' }, description: 'Unique per delivery; a repeat is answered 200 and changes nothing.' },
          { name: 'webhook-timestamp', in: 'header', required: true, schema: { type: 'string', pattern: '^\\d{1,12}$' }, description: 'Unix seconds; tolerance 5 minutes both ways.' },
          { name: 'webhook-signature', in: 'header', required: true, schema: { type: 'string' }, description: 'v1,<base64 HMAC-SHA256>' },
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: ref('WebhookBody'),
              examples: {
                answer: { summary: 'The answer for an async job', value: { request_id: '0198c2a0-7b1e-7cc0-8f00-4a6f2b5d3e10', data: { company: 'Acme', email: 'ada@example.com' } } },
              },
            },
          },
        },
        responses: {
          '200': json('Completed, or a repeated/late delivery that changed nothing.', ref('WebhookAnswer')),
          '400': problem('Malformed JSON, a bad body, nesting deeper than the limit, or a non-finite number.'),
          '401': problem('Bad or stale signature (tolerance 5 minutes).'),
          '404': problem('Unknown (or not async) vendor, or unknown job.'),
          '409': { ...problem('The job belongs to another vendor, or this delivery is being handled right now (see Retry-After).'), headers: retryAfter },
          '413': problem('Body over the limit.'),
          '429': { ...problem('Webhook rate limit per source IP exceeded; see Retry-After.'), headers: retryAfter },
          '503': problem('Store, Redis or the vendor\'s secret unavailable; deliver again later.'),
        },
      },
    },
    '/healthz': {
      get: { operationId: 'healthz', tags: ['operations'], summary: 'Process alive', responses: { '200': json('Alive.', ref('Health')) } },
    },
    '/health': {
      get: { operationId: 'health', tags: ['operations'], summary: 'Process alive (alias of /healthz)', responses: { '200': json('Alive.', ref('Health')) } },
    },
    '/readyz': {
      get: {
        operationId: 'readyz',
        tags: ['operations'],
        summary: 'Store and Redis reachable',
        responses: { '200': json('Ready.', ref('Ready')), '503': problem('Not ready (or shutting down).') },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'getOpenApi',
        tags: ['operations'],
        summary: 'This document',
        security: clientSecurity,
        responses: { '200': json('OpenAPI 3.1.', { type: 'object' }), '401': unauthorized, '429': { ...rateLimited, headers: retryAfter } },
      },
    },
    '/problems/{code}': {
      get: {
        operationId: 'getProblemType',
        tags: ['operations'],
        summary: 'What a problem type means (the page a problem\'s `type` URI names)',
        parameters: [{ name: 'code', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z-]+$' }, example: 'unknown-vendor' }],
        responses: {
          '200': { description: 'A short HTML page.', content: { 'text/html': { schema: { type: 'string' } } } },
          '404': problem('No such problem type.'),
        },
      },
    },
  },
} as const;
