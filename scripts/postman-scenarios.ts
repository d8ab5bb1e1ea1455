// The requests of the Postman collection, by operationId of the OpenAPI document. Method, URL,
// parameters, auth, descriptions and bodies come from the document (scripts/postman-collection.ts);
// this table only says which examples to send in which order, what status to expect, and what
// to remember between requests. The generator refuses a scenario whose operation, example or
// expected status the document does not have, and an operation no scenario covers.

export interface Scenario {
  folder: 'Jobs' | 'Webhooks' | 'Dead letters' | 'Vendors' | 'Errors' | 'Operations';
  name: string;
  operationId: string;
  /** Expected HTTP status; must be documented for the operation. */
  expect: number;
  /** Other statuses that also pass (a race with a live worker, e.g. cancel vs completion); documented too. */
  alsoExpect?: number[];
  /** A request-body example of the operation in the document. */
  example?: string;
  /** Top-level body fields replaced after the example is taken (Postman variables). */
  set?: Record<string, string>;
  /** A body that cannot be an example (malformed JSON). */
  rawBody?: string;
  /** Query parameters (each must be a documented parameter of the operation). */
  query?: Record<string, string>;
  /** Path parameter values. */
  path?: Record<string, string>;
  headers?: Record<string, string>;
  /** Send without the API key, whatever the operation's security says. */
  noAuth?: boolean;
  /** Send the client API key even to an admin operation (to show its 403). */
  asClient?: boolean;
  /** Sign the body in the Standard Webhooks form before sending (pre-request script). */
  sign?: boolean;
  /** Collection variable that receives the answer's request_id. */
  saveRequestIdAs?: string;
  /** Extra pre-request and test script lines. */
  prerequest?: string[];
  tests?: string[];
  /** Only meaningful when API keys are configured: skipped (passes) when apiKey is empty. */
  needsApiKey?: boolean;
  /** Only meaningful when admin keys are configured: skipped (passes) when adminApiKey is empty. */
  needsAdminKey?: boolean;
}

const unknownJob = '00000000-0000-7000-8000-000000000000';

export const scenarios: Scenario[] = [
  { folder: 'Jobs', name: 'Submit a sync job', operationId: 'submitJob', example: 'syncJob', expect: 202, saveRequestIdAs: 'syncRequestId' },
  { folder: 'Jobs', name: 'Submit an async job', operationId: 'submitJob', example: 'asyncJob', expect: 202, saveRequestIdAs: 'asyncRequestId' },
  { folder: 'Jobs', name: 'Submit in the lenient form (no payload field)', operationId: 'submitJob', example: 'lenient', expect: 202 },
  {
    folder: 'Jobs',
    name: 'Read the sync job',
    operationId: 'getJob',
    path: { request_id: '{{syncRequestId}}' },
    expect: 200,
    tests: [
      "pm.test('the job it names', () => pm.expect(pm.response.json().request_id).to.eql(pm.collectionVariables.get('syncRequestId')));",
    ],
  },
  {
    folder: 'Jobs',
    name: 'Idempotent retry: first request',
    operationId: 'submitJob',
    example: 'syncJob',
    headers: { 'Idempotency-Key': '{{idempotencyKey}}' },
    prerequest: ["pm.collectionVariables.set('idempotencyKey', 'order-' + Date.now() + '-' + Math.floor(Math.random() * 1e9));"],
    expect: 202,
    saveRequestIdAs: 'idempotentRequestId',
  },
  {
    folder: 'Jobs',
    name: 'Idempotent retry: the same key again returns the same job',
    operationId: 'submitJob',
    example: 'syncJob',
    headers: { 'Idempotency-Key': '{{idempotencyKey}}' },
    expect: 202,
    tests: [
      "pm.test('the first request_id', () => pm.expect(pm.response.json().request_id).to.eql(pm.collectionVariables.get('idempotentRequestId')));",
      "pm.test('marked as replayed', () => pm.expect(pm.response.headers.get('Idempotent-Replayed')).to.eql('true'));",
    ],
  },
  {
    folder: 'Jobs',
    name: 'Submit a batch: each job answered on its own',
    operationId: 'submitJobBatch',
    example: 'mixed',
    expect: 200,
    tests: [
      "pm.test('the good job accepted', () => pm.expect(pm.response.json().results[0].status).to.eql(202));",
      "pm.test('the unknown vendor refused alone', () => pm.expect(pm.response.json().results[1].status).to.eql(422));",
    ],
  },
  {
    folder: 'Jobs',
    name: 'Submit a batch with priorities: each job into its own lane',
    operationId: 'submitJobBatch',
    example: 'priorities',
    expect: 200,
    tests: ["pm.test('both jobs accepted', () => pm.expect(pm.response.json().results.map((r) => r.status)).to.eql([202, 202]));"],
  },
  {
    folder: 'Jobs',
    name: "List a vendor's jobs (a cursor page, no payloads)",
    operationId: 'listJobs',
    query: { vendor: '{{syncVendor}}', limit: '10' },
    expect: 200,
    tests: [
      "pm.test('a page of jobs', () => pm.expect(pm.response.json().jobs).to.be.an('array').that.is.not.empty);",
      "pm.test('no payloads by default', () => pm.expect(pm.response.json().jobs[0]).to.not.have.property('payload'));",
      "pm.test('each job shows its priority', () => pm.response.json().jobs.forEach((j) => pm.expect(['high', 'normal', 'low']).to.include(j.priority)));",
    ],
  },
  { folder: 'Errors', name: 'List with a bad cursor → 400', operationId: 'listJobs', query: { cursor: 'not-a-cursor' }, expect: 400 },
  { folder: 'Jobs', name: 'Submit a job to cancel', operationId: 'submitJob', example: 'syncJob', expect: 202, saveRequestIdAs: 'cancelRequestId' },
  {
    folder: 'Jobs',
    name: 'Cancel it (409 if the vendor was quicker)',
    operationId: 'cancelJob',
    path: { request_id: '{{cancelRequestId}}' },
    expect: 200,
    alsoExpect: [409],
    tests: ["pm.test('cancelled, or already complete', () => pm.response.code === 409 || pm.expect(pm.response.json().status).to.eql('cancelled'));"],
  },
  {
    folder: 'Jobs',
    name: 'Cancel it again: idempotent',
    operationId: 'cancelJob',
    path: { request_id: '{{cancelRequestId}}' },
    expect: 200,
    alsoExpect: [409],
  },
  {
    folder: 'Dead letters',
    name: 'List the failed jobs of a vendor (admin key)',
    operationId: 'listDeadLetters',
    path: { vendor: '{{syncVendor}}' },
    needsAdminKey: true,
    expect: 200,
    tests: ["pm.test('a list', () => pm.expect(pm.response.json().dead_letters).to.be.an('array'));"],
  },
  {
    folder: 'Dead letters',
    name: 'Replay them all (admin key)',
    operationId: 'replayDeadLetters',
    example: 'all',
    path: { vendor: '{{syncVendor}}' },
    needsAdminKey: true,
    expect: 200,
    tests: ["pm.test('what was replayed', () => pm.expect(pm.response.json().replayed).to.be.an('array'));"],
  },
  {
    folder: 'Vendors',
    name: 'Every vendor: quota use, breaker, lag, paused (admin key)',
    operationId: 'listVendors',
    needsAdminKey: true,
    expect: 200,
    tests: ["pm.test('the vendors', () => pm.expect(pm.response.json().vendors).to.be.an('array').that.is.not.empty);"],
  },
  {
    folder: 'Webhooks',
    name: 'Deliver the async answer (signed)',
    operationId: 'deliverWebhook',
    example: 'answer',
    set: { request_id: '{{asyncRequestId}}' },
    path: { vendor: '{{asyncVendor}}' },
    sign: true,
    expect: 200,
    tests: ["pm.test('completed, or already done', () => pm.expect(['completed', 'duplicate', 'ignored']).to.include(pm.response.json().status));"],
  },
  { folder: 'Errors', name: 'Unknown vendor → 422', operationId: 'submitJob', example: 'unknownVendor', expect: 422 },
  {
    folder: 'Errors',
    name: 'Wrong types → 400, each field listed',
    operationId: 'submitJob',
    example: 'wrongTypes',
    expect: 400,
    tests: ["pm.test('both fields listed', () => pm.expect(pm.response.json().errors.map((e) => e.field).sort()).to.eql(['payload', 'vendor']));"],
  },
  { folder: 'Errors', name: 'Malformed JSON → 400', operationId: 'submitJob', rawBody: '{"vendor": "sync", ', expect: 400 },
  {
    folder: 'Errors',
    name: 'Idempotency-Key reused with another body → 422',
    operationId: 'submitJob',
    example: 'asyncJob',
    headers: { 'Idempotency-Key': '{{idempotencyKey}}' },
    expect: 422,
  },
  { folder: 'Errors', name: 'Unknown job → 404', operationId: 'getJob', path: { request_id: unknownJob }, expect: 404 },
  { folder: 'Errors', name: 'Malformed request_id → 400', operationId: 'getJob', path: { request_id: 'not-a-uuid' }, expect: 400 },
  {
    folder: 'Errors',
    name: 'Webhook with a bad signature → 401',
    operationId: 'deliverWebhook',
    example: 'answer',
    set: { request_id: '{{asyncRequestId}}' },
    path: { vendor: '{{asyncVendor}}' },
    headers: { 'webhook-id': 'msg_unsigned', 'webhook-timestamp': '{{$timestamp}}', 'webhook-signature': 'v1,bm90IGEgc2lnbmF0dXJl' },
    expect: 401,
  },
  {
    folder: 'Errors',
    name: 'Webhook for a vendor without webhooks → 404',
    operationId: 'deliverWebhook',
    example: 'answer',
    path: { vendor: 'no-such-vendor' },
    sign: true,
    expect: 404,
  },
  { folder: 'Errors', name: 'Cancel an unknown job → 404', operationId: 'cancelJob', path: { request_id: unknownJob }, expect: 404 },
  {
    folder: 'Errors',
    name: 'Dead letters with a client key → 403',
    operationId: 'listDeadLetters',
    path: { vendor: '{{syncVendor}}' },
    asClient: true,
    needsApiKey: true,
    expect: 403,
  },
  {
    folder: 'Errors',
    name: 'Dead letters without a key → 401 (when admin keys are configured)',
    operationId: 'listDeadLetters',
    path: { vendor: '{{syncVendor}}' },
    noAuth: true,
    needsAdminKey: true,
    expect: 401,
  },
  { folder: 'Errors', name: 'No API key → 401 (when keys are configured)', operationId: 'submitJob', example: 'syncJob', noAuth: true, needsApiKey: true, expect: 401 },
  { folder: 'Operations', name: 'Liveness', operationId: 'healthz', expect: 200 },
  { folder: 'Operations', name: 'Liveness (alias /health)', operationId: 'health', expect: 200 },
  { folder: 'Operations', name: 'Readiness', operationId: 'readyz', expect: 200 },
  { folder: 'Operations', name: 'The OpenAPI document', operationId: 'getOpenApi', expect: 200 },
  { folder: 'Operations', name: 'What a problem type means', operationId: 'getProblemType', path: { code: 'unknown-vendor' }, expect: 200 },
];

/** Vendor names of the document's examples → variables, so any deployment's vendors can be used. */
export const vendorVariables: Record<string, string> = { sync: '{{syncVendor}}', async: '{{asyncVendor}}' };

/**
 * Standard Webhooks signing in Postman's sandbox (crypto-js is built in), exactly as
 * api/signature.ts verifies: v1,<base64 HMAC-SHA256 of "id.timestamp.body">, keyed by the
 * base64-decoded part of the whsec_ secret. The body is signed after variables are resolved,
 * and sent as signed.
 */
export const signingScript = [
  '// Standard Webhooks: webhook-signature = v1,<base64 HMAC-SHA256("{webhook-id}.{webhook-timestamp}.{body}")>,',
  '// keyed by the base64-decoded part of the whsec_ secret (environment variable webhookSecret).',
  "const cryptoJs = require('crypto-js');",
  "const secret = String(pm.variables.get('webhookSecret') || '');",
  "const key = cryptoJs.enc.Base64.parse(secret.replace(/^whsec_/, ''));",
  "const id = 'msg_' + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);",
  'const timestamp = String(Math.floor(Date.now() / 1000));',
  'const body = pm.variables.replaceIn(pm.request.body.raw);',
  "const signature = cryptoJs.HmacSHA256(id + '.' + timestamp + '.' + body, key).toString(cryptoJs.enc.Base64);",
  'pm.request.body.update(body);',
  "pm.request.headers.upsert({ key: 'webhook-id', value: id });",
  "pm.request.headers.upsert({ key: 'webhook-timestamp', value: timestamp });",
  "pm.request.headers.upsert({ key: 'webhook-signature', value: 'v1,' + signature });",
];
