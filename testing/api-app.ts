// Test harness for the api's own tests: a real private redis-server, an SQLite store in a temp
// folder, a real registry, the app listening on an ephemeral 127.0.0.1 port. Every response the
// app sends is checked against the OpenAPI document (status, content type, body schema); a
// response that the document does not describe fails the test that caused it.
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { JobStore } from '../core/job.js';
import { createLogger } from '../core/logger.js';
import { RegistryView, VendorRegistry } from '../core/registry.js';
import { envSecrets } from '../core/secrets.js';
import { createJobStore } from '../core/store/index.js';
import { vendorSpecSchema, type VendorSpec } from '../core/vendorpool.js';
import { startRedis, type RedisServer } from './redis-server.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { createApp } from '../api/app.js';
import type { ApiOptions } from '../api/deps.js';
import { createApiMetrics, type ApiMetrics } from '../api/metrics.js';
import { startProbeServer } from '../core/probe-server.js';
import { openApiDocument } from '../api/openapi.js';
import { createApiRedis, createSubscriberRedis } from '../api/redis.js';
import { vendorLookup } from '../api/vendors.js';

export const spec = (s: Record<string, unknown>): VendorSpec => vendorSpecSchema.parse(s);

export const SECRET = `whsec_${Buffer.from('a test signing key of 32 bytes!!').toString('base64')}`;

/** A sync vendor, two async ones (slowco has its secret; nosecret's is never configured). */
export const testVendors = (): VendorSpec[] => [
  spec({ name: 'acme', url: 'http://127.0.0.1:9/fetch', quota: { requestsPerSecond: 10 } }),
  spec({
    name: 'slowco',
    mode: 'async',
    url: 'http://127.0.0.1:9/fetch',
    callbackTimeoutSeconds: 60,
    webhookSecretRef: { name: 'slowco-webhook', key: 'secret' },
    quota: { requestsPerSecond: 10 },
    cleaning: { drop: ['internal_note'], redact: ['email'] },
  }),
  spec({
    name: 'otherco',
    mode: 'async',
    url: 'http://127.0.0.1:9/fetch',
    callbackTimeoutSeconds: 60,
    webhookSecretRef: { name: 'slowco-webhook', key: 'secret' },
    quota: { requestsPerSecond: 10 },
  }),
  spec({
    name: 'nosecret',
    mode: 'async',
    url: 'http://127.0.0.1:9/fetch',
    callbackTimeoutSeconds: 60,
    webhookSecretRef: { name: 'missing', key: 'secret' },
    quota: { requestsPerSecond: 10 },
  }),
];

/** QUIT when connected (the server closes the socket at once), else drop the connection. */
async function endConnection(c: Redis): Promise<void> {
  if (c.status === 'ready') await c.quit().catch(() => c.disconnect());
  else c.disconnect();
}

export interface TestServices {
  redisServer: RedisServer;
  /** A normal client for assertions (not the api's fail-fast one). */
  redis: Redis;
  store: JobStore;
  registryView: RegistryView;
  close(): Promise<void>;
}

export async function startServices(): Promise<TestServices> {
  const redisServer = await startRedis();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-api-'));
  const store = await createJobStore({ sqlitePath: path.join(dir, 'jobs.db') });
  const redis = await createApiRedis(redisServer.url);
  await new VendorRegistry(redis).publish('local/test', testVendors());
  const subscriber = await createSubscriberRedis(redisServer.url);
  // Outage tests stop Redis on purpose: failed reloads are expected there, not news.
  const registryView = new RegistryView(new VendorRegistry(redis), subscriber, undefined, { onError: () => undefined });
  await registryView.start();
  return {
    redisServer,
    redis,
    store,
    registryView,
    async close() {
      // Close the connections first: with Redis already stopped (outage tests) an UNSUBSCRIBE
      // would wait forever.
      await Promise.all([endConnection(subscriber), endConnection(redis)]);
      await registryView.stop();
      await store.close().catch(() => {});
      await redisServer.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface TestApi {
  base: string;
  /** The separate metrics listener (GET /metrics); the public port does not serve it. */
  metricsBase: string;
  metrics: ApiMetrics;
  /** The api's own Redis connection (fail-fast). */
  redis: Redis;
  close(): Promise<void>;
}

export async function startApi(
  s: TestServices,
  options: ApiOptions = {},
  extra: { store?: JobStore; lifecycle?: { draining: boolean } } = {},
): Promise<TestApi> {
  const redis = await createApiRedis(s.redisServer.url);
  const metrics = createApiMetrics();
  const app = createApp({
    store: extra.store ?? s.store,
    redis,
    registry: vendorLookup(s.registryView),
    secrets: envSecrets({ VF_SECRET_SLOWCO_WEBHOOK_SECRET: SECRET }),
    logger: createLogger('api-test', 'silent'),
    metrics,
    options,
    ...(extra.lifecycle ? { lifecycle: extra.lifecycle } : {}),
  });
  // The app behind a recorder: what it sends is checked against the OpenAPI document.
  const server: Server = await new Promise((resolve) => {
    const srv = http.createServer(recordResponses(app, (r) => {
      checked += 1;
      liveViolations.push(...checkResponse(r));
    }));
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
  const { port } = server.address() as AddressInfo;
  const metricsServer = await startProbeServer({ port: 0, host: '127.0.0.1', registry: metrics.registry });
  return {
    base: `http://127.0.0.1:${port}`,
    metricsBase: `http://127.0.0.1:${metricsServer.port}`,
    metrics,
    redis,
    async close() {
      await metricsServer.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await endConnection(redis);
    },
  };
}

/**
 * Signs like a vendor would, written from the Standard Webhooks spec and independent of
 * api/signature.ts: base64 HMAC-SHA256 of `${id}.${timestamp}.${body}` keyed by the
 * base64-decoded part of `whsec_…`.
 */
export function signWebhook(body: string, opts: { id: string; timestamp?: number; secret?: string }) {
  const ts = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const key = Buffer.from((opts.secret ?? SECRET).replace(/^whsec_/, ''), 'base64');
  const sig = createHmac('sha256', key).update(`${opts.id}.${ts}.${body}`).digest('base64');
  return { 'webhook-id': opts.id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

// ---- The OpenAPI contract, checked on every response of the app under test ----------------

/** What the app answered, as the checker needs it. */
export interface SeenResponse {
  method: string;
  /** Path without the query string. */
  path: string;
  status: number;
  contentType: string | undefined;
  body: string;
}

interface ResponseSpec {
  content?: Record<string, { schema?: unknown }>;
}
interface Operation {
  operationId: string;
  responses: Record<string, ResponseSpec>;
}

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;

/**
 * A checker for responses against an OpenAPI 3.1 document (JSON Schema 2020-12 via ajv).
 * Returns one message per mismatch: an undocumented route, operation or status, a content type
 * the document does not name, or a body its schema rejects. Unknown routes must be our 404
 * problem. Pure apart from compiling schemas once; unit-tested in api/openapi.test.ts.
 */
export function responseChecker(doc: { paths: object; components: object }) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, 'doc');
  // Literal paths before templated ones, so /jobs/batch would win over /jobs/{request_id}.
  const routes = Object.entries(doc.paths as Record<string, Record<string, Operation>>)
    .map(([template, item]) => ({
      template,
      item,
      regex: new RegExp(`^${template.replace(/\{[^/}]+\}/g, '[^/]+')}/?$`),
      params: (template.match(/\{/g) ?? []).length,
    }))
    .sort((a, b) => a.params - b.params);
  const pointer = (...parts: string[]) => `doc#/${parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`;

  return (r: SeenResponse): string[] => {
    const where = `${r.method} ${r.path} → ${r.status}`;
    const mediaType = r.contentType?.split(';')[0]?.trim().toLowerCase();
    const route = routes.find((x) => x.regex.test(r.path));
    const method = r.method === 'HEAD' ? 'get' : r.method.toLowerCase();
    const operation = route?.item[method];
    if (!route || !operation) {
      // express' fallback: our 404 problem for any route the app does not serve.
      const isNotFound = r.status === 404 && mediaType === 'application/problem+json';
      return isNotFound ? [] : [`${where}: no operation for this method and path in the OpenAPI document`];
    }
    const status = String(r.status);
    const spec = operation.responses[status] ?? operation.responses['default'];
    if (!spec) return [`${where}: status not documented for ${operation.operationId}`];
    const key = operation.responses[status] ? status : 'default';
    if (!spec.content) return r.body === '' ? [] : [`${where}: documented without a body, but has one`];
    if (mediaType === undefined || !(mediaType in spec.content)) {
      return [`${where}: content type ${String(r.contentType)} not among ${Object.keys(spec.content).join(', ')}`];
    }
    if (r.method === 'HEAD' || spec.content[mediaType]?.schema === undefined) return [];
    const validate = ajv.getSchema(pointer('paths', route.template, method, 'responses', key, 'content', mediaType, 'schema'));
    if (!validate) return [`${where}: schema of the documented response cannot be compiled`];
    let value: unknown = r.body;
    if (/[/+]json$/.test(mediaType)) {
      try {
        value = JSON.parse(r.body);
      } catch {
        return [`${where}: body is not JSON`];
      }
    }
    if (validate(value)) return [];
    return [`${where}: body does not match the document: ${ajv.errorsText(validate.errors)}; body ${r.body.slice(0, 300)}`];
  };
}

const checkResponse = responseChecker(openApiDocument);
const liveViolations: string[] = [];
let checked = 0;
/** How many responses of apps started by startApi were checked so far (proves the recorder runs). */
export const responsesChecked = (): number => checked;

/** The app as a request handler that hands every finished response to `onResponse`. */
function recordResponses(
  app: (req: IncomingMessage, res: ServerResponse) => void,
  onResponse: (r: SeenResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const chunks: Buffer[] = [];
    const keep = (chunk: unknown, encoding?: unknown) => {
      if (typeof chunk === 'string') chunks.push(Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
      else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
    };
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    // Own properties: they stay in front of express' prototype swap.
    res.write = ((...args: unknown[]) => {
      keep(args[0], args[1]);
      return write(...args);
    }) as typeof res.write;
    res.end = ((...args: unknown[]) => {
      if (typeof args[0] !== 'function') keep(args[0], args[1]);
      // Checked before the answer leaves, so the test that caused it is still running.
      const contentType = res.getHeader('content-type');
      onResponse({
        method: req.method ?? 'GET',
        path: (req.url ?? '/').split('?')[0] ?? '/',
        status: res.statusCode,
        contentType: contentType === undefined ? undefined : String(contentType),
        body: Buffer.concat(chunks).toString('utf8'),
      });
      return end(...args);
    }) as typeof res.end;
    app(req, res);
  };
}

// Any test file that uses this harness fails the test whose requests the document does not describe.
if (typeof afterEach === 'function') {
  afterEach(() => {
    const found = liveViolations.splice(0);
    if (found.length > 0) throw new Error(`responses that do not match the OpenAPI document:\n  ${found.join('\n  ')}`);
  });
}
