// The OpenAPI document: generated from the zod schemas, checked against every response the api
// tests see (testing/api-app.ts), and its problem `type` URIs resolve to pages the api serves.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseApiConfig } from './config.js';
import { openApiDocument } from './openapi.js';
import { problemCodes } from './problem.js';
import { problemDocs } from './problem-types.js';
import { jobSchema } from './schemas.js';
import {
  postJson,
  responseChecker,
  responsesChecked,
  startApi,
  startServices,
  type SeenResponse,
  type TestApi,
  type TestServices,
} from '../testing/api-app.js';

describe('the document', () => {
  const operations = Object.values(openApiDocument.paths).flatMap((item) => Object.values(item) as { operationId: string }[]);

  test('every operation has a unique operationId, and there are servers', () => {
    const ids = operations.map((o) => o.operationId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(openApiDocument.servers.length).toBeGreaterThan(0);
  });

  test('component schemas are the zod schemas converted (not written by hand)', () => {
    const { $schema: _s, ...job } = z.toJSONSchema(jobSchema, { io: 'output' }) as Record<string, unknown>;
    expect(openApiDocument.components.schemas['Job']).toEqual(job);
    expect((openApiDocument.components.schemas['Job'] as { properties: { status: { enum: string[] } } }).properties.status.enum).toContain('complete');
  });

  test('the job statuses include cancelled, and the cancel route is a client route', () => {
    const status = (openApiDocument.components.schemas['Job'] as { properties: { status: { enum: string[] } } }).properties.status.enum;
    expect(status).toEqual(['pending', 'processing', 'complete', 'failed', 'cancelled']);
    const cancel = openApiDocument.paths['/jobs/{request_id}/cancel'].post;
    expect(cancel.security).toEqual(openApiDocument.paths['/jobs/{request_id}'].get.security);
    expect(Object.keys(cancel.responses)).toEqual(expect.arrayContaining(['200', '404', '409']));
  });

  test('the operator routes need an admin key and document 401 and 403', () => {
    const admin = Object.entries(openApiDocument.paths).filter(([path]) => path.startsWith('/vendors/'));
    expect(admin.map(([path]) => path).sort()).toEqual(['/vendors/{vendor}/dead-letters', '/vendors/{vendor}/dead-letters/replay']);
    for (const [, item] of admin) {
      for (const op of Object.values(item) as Array<{ security: unknown; responses: Record<string, unknown> }>) {
        expect(op.security).toEqual([{ adminBearer: [] }]);
        expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '401', '403']));
      }
    }
  });

  test('priority: on every job shown (GET /jobs/{id}, GET /jobs pages) and accepted per item of a batch', () => {
    const schemas = openApiDocument.components.schemas as Record<string, { properties: Record<string, { items?: { properties: Record<string, { enum?: string[] }>; required?: string[] } }> }>;
    const listed = schemas['JobPage']!.properties['jobs']!.items!;
    expect(listed.properties['priority']?.enum).toEqual(['high', 'normal', 'low']);
    expect(listed.required).toContain('priority');
    const item = schemas['BatchRequest']!.properties['jobs']!.items!;
    expect(item.properties['priority']?.enum).toEqual(['high', 'normal', 'low']);
    expect(item.required ?? []).not.toContain('priority');
  });

  test('every $ref points at a component that exists', () => {
    const refs = [...JSON.stringify(openApiDocument).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(5);
    for (const name of refs) expect(Object.keys(openApiDocument.components.schemas)).toContain(name);
  });
});

describe('responseChecker: a response that drifted from the document is reported', () => {
  const check = responseChecker(openApiDocument);
  const job = {
    request_id: '0198c2a0-7b1e-7cc0-8f00-4a6f2b5d3e10',
    vendor: 'acme',
    priority: 'normal',
    status: 'pending',
    attempts: 0,
    created_at: '2026-11-30T08:00:00.000Z',
    updated_at: '2026-11-30T08:00:00.000Z',
  };
  const ok: SeenResponse = {
    method: 'GET',
    path: `/jobs/${job.request_id}`,
    status: 200,
    contentType: 'application/json; charset=utf-8',
    body: JSON.stringify(job),
  };
  const problem = { type: 'http://h/problems/not-found', title: 'Not found', status: 404, detail: 'x' };

  test('a matching response passes', () => {
    expect(check(ok)).toEqual([]);
    expect(check({ ...ok, status: 404, contentType: 'application/problem+json', body: JSON.stringify(problem) })).toEqual([]);
  });

  test.each<[string, Partial<SeenResponse>, RegExp]>([
    ['an undocumented status', { status: 418 }, /status not documented for getJob/],
    ['another content type', { contentType: 'text/plain' }, /content type text\/plain not among application\/json/],
    ['a missing required field', { body: JSON.stringify({ ...job, vendor: undefined }) }, /must have required property 'vendor'/],
    ['a field the document does not know', { body: JSON.stringify({ ...job, payload: { secret: 1 } }) }, /must NOT have additional properties/],
    ['a status outside the enum', { body: JSON.stringify({ ...job, status: 'paused' }) }, /must be equal to one of the allowed values/],
    ['a malformed date', { body: JSON.stringify({ ...job, created_at: 'yesterday' }) }, /must match format "date-time"/],
    ['a body that is not JSON', { body: '<html>' }, /body is not JSON/],
    ['a relative problem type', { status: 404, contentType: 'application/problem+json', body: JSON.stringify({ ...problem, type: '/problems/not-found' }) }, /must match format "uri"/],
    ['an undocumented operation', { method: 'DELETE' }, /no operation for this method and path/],
    ['an undocumented route that answers 200', { path: '/admin' }, /no operation for this method and path/],
  ])('%s', (_name, change, message) => {
    const found = check({ ...ok, ...change });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  test('an unknown route answered with our 404 problem is fine', () => {
    expect(check({ ...ok, path: '/nope', status: 404, contentType: 'application/problem+json', body: JSON.stringify(problem) })).toEqual([]);
  });
});

describe('over HTTP', () => {
  let s: TestServices;
  let api: TestApi;
  beforeAll(async () => {
    s = await startServices();
    api = await startApi(s);
  });
  afterAll(async () => {
    await api?.close();
    await s?.close();
  });

  test('every response of the app under test goes through the checker', async () => {
    const before = responsesChecked();
    await fetch(`${api.base}/healthz`);
    await fetch(`${api.base}/no-such-route`);
    expect(responsesChecked() - before).toBe(2);
  });

  test('GET /health is an alias of /healthz', async () => {
    for (const path of ['/health', '/healthz']) {
      const res = await fetch(`${api.base}${path}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
    }
  });

  test('GET /openapi.json serves the document', async () => {
    const res = await fetch(`${api.base}/openapi.json`);
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(openApiDocument)));
  });

  test("a problem's type is an absolute URI whose page explains it", async () => {
    const res = await postJson(`${api.base}/jobs`, { vendor: 'no-such-vendor', payload: {} });
    const { type, title } = (await res.json()) as { type: string; title: string };
    expect(type).toBe(`${api.base}/problems/unknown-vendor`);
    const page = await fetch(type);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain(`<h1>${title}</h1>`);
    expect(html).toContain('HTTP status: 422');
  });

  test('every problem code has a page, and an unknown one is a 404 problem', async () => {
    expect(Object.keys(problemDocs).sort()).toEqual(Object.keys(problemCodes).sort());
    for (const code of Object.keys(problemCodes)) {
      const res = await fetch(`${api.base}/problems/${code.replaceAll('_', '-')}`);
      expect(res.status).toBe(200);
    }
    const missing = await fetch(`${api.base}/problems/no-such-problem`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  test('with a configured base URL (VF_PROBLEM_BASE_URL) the type points there', async () => {
    const parsed = parseApiConfig({ VF_PROBLEM_BASE_URL: 'https://api.example.com/vendorfetch/' });
    expect(parsed.ok).toBe(true);
    const base = parsed.ok ? parsed.config.VF_PROBLEM_BASE_URL : undefined;
    const configured = await startApi(s, { problemBaseUrl: base });
    try {
      const res = await fetch(`${configured.base}/jobs/${randomUUID()}`);
      expect(((await res.json()) as { type: string }).type).toBe('https://api.example.com/vendorfetch/problems/not-found');
    } finally {
      await configured.close();
    }
    expect(parseApiConfig({ VF_PROBLEM_BASE_URL: 'not a url' }).ok).toBe(false);
  });
});
