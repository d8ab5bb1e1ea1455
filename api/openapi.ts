// The OpenAPI 3.1 description served at /openapi.json. Hand-written: the routes are few, and
// the lenient forms of POST /jobs are easier to state in prose than to derive from a schema.
const problemRef = { $ref: '#/components/schemas/Problem' };
const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: problemRef } },
});
const requestId = { type: 'string', format: 'uuid' };

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'vendorfetch',
    version: '0.1.0',
    description: 'One HTTP API in front of many external data vendors. Errors are RFC 9457 problem details.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Only when API keys are configured.' } },
    schemas: {
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status'],
        properties: {
          type: { type: 'string', description: 'A relative URI naming the problem, e.g. /problems/validation.' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          errors: {
            type: 'array',
            description: 'One entry per bad field (validation problems).',
            items: {
              type: 'object',
              required: ['field', 'detail'],
              properties: { field: { type: 'string' }, detail: { type: 'string' } },
            },
          },
        },
      },
      JobRequest: {
        type: 'object',
        description:
          'Lenient forms: without `payload`, the rest of the body is the payload; without `vendor`, the configured default vendor is used (else 422).',
        properties: { vendor: { type: 'string' }, payload: { type: 'object' } },
      },
      Accepted: { type: 'object', required: ['request_id'], properties: { request_id: requestId } },
      Job: {
        type: 'object',
        required: ['request_id', 'vendor', 'status', 'attempts', 'created_at', 'updated_at'],
        properties: {
          request_id: requestId,
          vendor: { type: 'string' },
          status: { enum: ['pending', 'processing', 'complete', 'failed'] },
          attempts: { type: 'integer' },
          result: { description: 'The cleaned vendor answer (complete jobs).' },
          error: { type: 'string', description: 'The last error, e.g. callback_timeout.' },
          created_at: { type: 'string', format: 'date-time' },
          updated_at: { type: 'string', format: 'date-time' },
          completed_at: { type: 'string', format: 'date-time' },
        },
      },
      WebhookBody: {
        type: 'object',
        required: ['data'],
        properties: { request_id: requestId, job_id: { ...requestId, description: 'Alias of request_id.' }, data: {} },
      },
    },
  },
  paths: {
    '/jobs': {
      post: {
        summary: 'Submit a job',
        security: [{}, { bearer: [] }],
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: false,
            schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
            description:
              'Scoped by client (API key) and route. A repeat with the same vendor and payload (compared canonically) returns the same request_id and creates nothing new; another body → 422; a repeat while the first is still being handled → 409 + Retry-After. Keys expire (default 24 h).',
          },
        ],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/JobRequest' } } } },
        responses: {
          '202': {
            description: 'Stored and queued.',
            headers: { Location: { schema: { type: 'string' }, description: '/jobs/{request_id}' } },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Accepted' } } },
          },
          '400': problemResponse(
            'Malformed JSON, wrong types (each bad field listed in `errors`), JSON nested deeper than the limit (default 64 levels, `/problems/too-deep`), or a number that is not finite (e.g. 1e400).',
          ),
          '401': problemResponse('Missing or wrong API key.'),
          '413': problemResponse('Body over the limit (default 256 KiB).'),
          '415': problemResponse('A charset other than UTF-8.'),
          '409': problemResponse('A request with this Idempotency-Key is still being handled; see Retry-After.'),
          '422': problemResponse('Unknown vendor, no vendor and no default vendor, or an Idempotency-Key reused with another body.'),
          '429': problemResponse('Client rate limit exceeded; see Retry-After.'),
          '503': problemResponse('Store or Redis unavailable; nothing was written.'),
        },
      },
    },
    '/jobs/{request_id}': {
      get: {
        summary: 'Read a job',
        security: [{}, { bearer: [] }],
        parameters: [{ name: 'request_id', in: 'path', required: true, schema: requestId }],
        responses: {
          '200': { description: 'The job.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Job' } } } },
          '400': problemResponse('Malformed request_id.'),
          '401': problemResponse('Missing or wrong API key.'),
          '404': problemResponse('Unknown job.'),
          '429': problemResponse('Client rate limit exceeded; see Retry-After.'),
          '503': problemResponse('Store unavailable.'),
        },
      },
    },
    '/vendor-webhook/{vendor}': {
      post: {
        summary: 'Deliver an async vendor answer (Standard Webhooks signature)',
        parameters: [
          { name: 'vendor', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'webhook-id', in: 'header', required: true, schema: { type: 'string' } },
          { name: 'webhook-timestamp', in: 'header', required: true, schema: { type: 'string' } },
          { name: 'webhook-signature', in: 'header', required: true, schema: { type: 'string' }, description: 'v1,<base64 HMAC-SHA256>' },
        ],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/WebhookBody' } } } },
        responses: {
          '200': {
            description: 'Completed, or a repeated/late delivery that changed nothing.',
            content: { 'application/json': { schema: { type: 'object', properties: { status: { enum: ['completed', 'duplicate', 'ignored'] } } } } },
          },
          '400': problemResponse('Malformed JSON, a bad body, nesting deeper than the limit, or a non-finite number.'),
          '401': problemResponse('Bad or stale signature (tolerance 5 minutes).'),
          '404': problemResponse('Unknown (or not async) vendor, or unknown job.'),
          '409': problemResponse('The job belongs to another vendor.'),
          '413': problemResponse('Body over the limit.'),
          '503': problemResponse('Store or Redis unavailable; deliver again later.'),
        },
      },
    },
    '/healthz': { get: { summary: 'Process alive', responses: { '200': { description: 'Alive.' } } } },
    '/readyz': {
      get: {
        summary: 'Store and Redis reachable',
        responses: { '200': { description: 'Ready.' }, '503': problemResponse('Not ready (or shutting down).') },
      },
    },
    '/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1.' } } } },
  },
} as const;
