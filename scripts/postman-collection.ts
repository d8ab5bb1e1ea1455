// OpenAPI document → Postman collection (v2.1) and environment. Pure and deterministic (no
// random ids, stable order), so the committed files in docs/postman/ can be compared with a
// fresh generation in a test: the collection cannot drift from the document.
import { signingScript, vendorVariables, type Scenario } from './postman-scenarios.js';

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
}
interface Operation {
  operationId: string;
  summary?: string;
  description?: string;
  security?: readonly object[];
  parameters?: readonly Parameter[];
  requestBody?: { content: Record<string, { examples?: Record<string, { summary?: string; value: unknown }> }> };
  responses: Record<string, { description?: string }>;
}
export interface OpenApiLike {
  info: { title: string; description?: string };
  servers: readonly { url: string }[];
  paths: Record<string, Record<string, Operation>>;
}

const SCHEMA = 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json';
const FOLDERS: Record<Scenario['folder'], string> = {
  Jobs: 'Submit jobs and read them: sync, async, the lenient form, an idempotent retry.',
  Webhooks: 'What an async vendor sends, signed in the Standard Webhooks form by a pre-request script.',
  'Dead letters': 'Operators, with an admin key (adminApiKey): the jobs that failed, and their replay.',
  Vendors: "Operators, with an admin key (adminApiKey): each vendor's quota use, breaker, lag and paused state.",
  Errors: 'The error cases: each answers an RFC 9457 problem (application/problem+json).',
  Operations: 'Probes and documentation.',
};

/** The variables a user sets (environment), with their defaults for local mode (`npm start`). */
export function environmentValues(doc: OpenApiLike): { key: string; value: string; description: string; secret?: boolean }[] {
  const baseUrl = doc.servers.find((s) => /^https?:\/\//.test(s.url))?.url ?? 'http://localhost:8080';
  return [
    { key: 'baseUrl', value: baseUrl, description: 'The api (local mode: http://localhost:8080).' },
    { key: 'apiKey', value: '', description: 'A bearer API key (VF_API_KEYS); empty when the api runs without keys.', secret: true },
    { key: 'adminApiKey', value: '', description: 'An admin key (VF_ADMIN_API_KEYS) for the dead-letter requests; empty: they are skipped.', secret: true },
    {
      key: 'webhookSecret',
      value: '',
      description: "The async vendor's whsec_ signing secret (npm start prints it), for the signed webhook requests.",
      secret: true,
    },
    { key: 'syncVendor', value: 'sync', description: 'A sync vendor (examples/vendorpools/sync.yaml).' },
    { key: 'asyncVendor', value: 'async', description: 'An async vendor (examples/vendorpools/async.yaml).' },
  ];
}

function findOperation(doc: OpenApiLike, operationId: string): { template: string; method: string; op: Operation } {
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) if (op.operationId === operationId) return { template, method, op };
  }
  throw new Error(`scenario names operation ${operationId}, which the OpenAPI document does not have`);
}

/** The example's body with vendor names turned into variables and `set` fields replaced. */
function bodyOf(s: Scenario, op: Operation): string | undefined {
  if (s.rawBody !== undefined) return s.rawBody;
  if (s.example === undefined) return undefined;
  const example = op.requestBody?.content['application/json']?.examples?.[s.example];
  if (!example) throw new Error(`${s.name}: ${op.operationId} has no request example "${s.example}"`);
  const value = { ...(example.value as Record<string, unknown>), ...s.set };
  const withVariables = (job: Record<string, unknown>) =>
    typeof job['vendor'] === 'string' ? { ...job, vendor: vendorVariables[job['vendor']] ?? job['vendor'] } : job;
  // A batch (POST /jobs/batch) names its vendors one level down.
  const body = Array.isArray(value['jobs']) ? { ...value, jobs: (value['jobs'] as Array<Record<string, unknown>>).map(withVariables) } : withVariables(value);
  return JSON.stringify(body, null, 2);
}

function testScript(s: Scenario): string[] {
  const statusTest = s.alsoExpect?.length
    ? `pm.test('status ${[s.expect, ...s.alsoExpect].join(' or ')}', () => pm.expect(${JSON.stringify([s.expect, ...s.alsoExpect])}).to.include(pm.response.code));`
    : `pm.test('status ${s.expect}', () => pm.response.to.have.status(${s.expect}));`;
  const status = [
    statusTest,
    ...(s.expect >= 400 ? ["pm.test('a problem+json answer', () => pm.expect(pm.response.headers.get('Content-Type')).to.match(/^application\\/problem\\+json/));"] : []),
    ...(s.saveRequestIdAs ? [`pm.collectionVariables.set('${s.saveRequestIdAs}', pm.response.json().request_id);`] : []),
    ...(s.tests ?? []),
  ];
  const needed = [...(s.needsApiKey ? ['apiKey'] : []), ...(s.needsAdminKey ? ['adminApiKey'] : [])];
  if (needed.length === 0) return status;
  return [
    `if (${needed.map((v) => `!pm.variables.get('${v}')`).join(' || ')}) {`,
    `  pm.test('skipped: ${needed.join(' or ')} not set, so the api may run without such keys', () => {});`,
    '} else {',
    ...status.map((l) => `  ${l}`),
    '}',
  ];
}

function requestItem(doc: OpenApiLike, s: Scenario) {
  const { template, method, op } = findOperation(doc, s.operationId);
  for (const status of [s.expect, ...(s.alsoExpect ?? [])]) {
    if (!op.responses[String(status)]) throw new Error(`${s.name}: status ${status} is not documented for ${s.operationId}`);
  }
  const body = bodyOf(s, op);
  const pathParams = (op.parameters ?? []).filter((p) => p.in === 'path');
  for (const p of pathParams) if (s.path?.[p.name] === undefined) throw new Error(`${s.name}: no value for path parameter ${p.name}`);
  for (const key of Object.keys(s.query ?? {})) {
    if (!(op.parameters ?? []).some((p) => p.in === 'query' && p.name === key)) throw new Error(`${s.name}: ${key} is not a query parameter of ${s.operationId}`);
  }
  const segments = template.split('/').filter(Boolean).map((seg) => seg.replace(/^\{(.+)\}$/, ':$1'));
  const headers = [
    ...(body !== undefined ? [{ key: 'Content-Type', value: 'application/json' }] : []),
    ...Object.entries(s.headers ?? {}).map(([key, value]) => ({ key, value })),
  ];
  const usesKey = ((op.security ?? []).some((r) => 'bearer' in r) || s.asClient === true) && !s.noAuth;
  const usesAdminKey = (op.security ?? []).some((r) => 'adminBearer' in r) && !s.noAuth && !s.asClient;
  const events = [
    ...(s.sign || s.prerequest ? [{ listen: 'prerequest', script: { type: 'text/javascript', exec: [...(s.prerequest ?? []), ...(s.sign ? signingScript : [])] } }] : []),
    { listen: 'test', script: { type: 'text/javascript', exec: testScript(s) } },
  ];
  const exampleSummary = s.example ? op.requestBody?.content['application/json']?.examples?.[s.example]?.summary : undefined;
  return {
    name: s.name,
    event: events,
    request: {
      // Inherit the collection's bearer auth (the client key) where the document lists it; the
      // admin key where it asks for one; else send none.
      ...(usesAdminKey
        ? { auth: { type: 'bearer', bearer: [{ key: 'token', value: '{{adminApiKey}}', type: 'string' }] } }
        : usesKey
          ? {}
          : { auth: { type: 'noauth' } }),
      method: method.toUpperCase(),
      header: headers,
      ...(body !== undefined ? { body: { mode: 'raw', raw: body, options: { raw: { language: 'json' } } } } : {}),
      url: {
        raw: `{{baseUrl}}/${segments.join('/')}${s.query ? `?${Object.entries(s.query).map(([k, v]) => `${k}=${v}`).join('&')}` : ''}`,
        host: ['{{baseUrl}}'],
        path: segments,
        ...(s.query ? { query: Object.entries(s.query).map(([key, value]) => ({ key, value })) } : {}),
        ...(pathParams.length > 0
          ? { variable: pathParams.map((p) => ({ key: p.name, value: s.path![p.name]!, ...(p.description ? { description: p.description } : {}) })) }
          : {}),
      },
      description: [
        `\`${op.operationId}\` — ${op.summary ?? ''}`,
        ...(op.description ? [op.description] : []),
        ...(exampleSummary ? [`Example: ${exampleSummary}.`] : []),
        `Expected: ${s.expect} — ${op.responses[String(s.expect)]?.description ?? ''}`,
      ].join('\n\n'),
    },
  };
}

export function postmanCollection(doc: OpenApiLike, scenarios: readonly Scenario[]) {
  const covered = new Set(scenarios.map((s) => s.operationId));
  const missing = Object.values(doc.paths)
    .flatMap((item) => Object.values(item).map((op) => op.operationId))
    .filter((id) => !covered.has(id));
  if (missing.length > 0) throw new Error(`no Postman request for operation(s) ${missing.join(', ')}: add a scenario in scripts/postman-scenarios.ts`);

  const folders = Object.keys(FOLDERS) as Scenario['folder'][];
  return {
    info: {
      name: doc.info.title,
      description: `${doc.info.description ?? ''}\n\nGenerated from the OpenAPI document by \`npm run postman\` (scripts/postman.ts); do not edit by hand. Import it with docs/postman/vendorfetch.postman_environment.json and set apiKey and webhookSecret.`,
      schema: SCHEMA,
    },
    auth: { type: 'bearer', bearer: [{ key: 'token', value: '{{apiKey}}', type: 'string' }] },
    variable: [
      ...environmentValues(doc).map(({ key, value }) => ({ key, value })),
      // Filled in while the collection runs (test scripts), in this order.
      ...['syncRequestId', 'asyncRequestId', 'idempotencyKey', 'idempotentRequestId', 'cancelRequestId'].map((key) => ({ key, value: '' })),
    ],
    item: folders.map((folder) => ({
      name: folder,
      description: FOLDERS[folder],
      item: scenarios.filter((s) => s.folder === folder).map((s) => requestItem(doc, s)),
    })),
  };
}

export function postmanEnvironment(doc: OpenApiLike) {
  return {
    name: `${doc.info.title} (local)`,
    values: environmentValues(doc).map(({ key, value, secret }) => ({ key, value, type: secret ? 'secret' : 'default', enabled: true })),
  };
}

/** Files under docs/postman/ and their exact contents. */
export function postmanFiles(doc: OpenApiLike, scenarios: readonly Scenario[]): Record<string, string> {
  const text = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  return {
    'vendorfetch.postman_collection.json': text(postmanCollection(doc, scenarios)),
    'vendorfetch.postman_environment.json': text(postmanEnvironment(doc)),
  };
}
