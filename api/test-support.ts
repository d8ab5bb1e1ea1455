// Test harness for the api's own tests: a real private redis-server, an SQLite store in a temp
// folder, a real registry, the app listening on an ephemeral 127.0.0.1 port.
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
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
import { startRedis, type RedisServer } from '../e2e/support/redis-server.js';
import { createApp } from './app.js';
import type { ApiOptions } from './deps.js';
import { createApiMetrics, type ApiMetrics } from './metrics.js';
import { startApiMetricsServer } from './metrics-server.js';
import { createApiRedis, createSubscriberRedis } from './redis.js';
import { vendorLookup } from './vendors.js';

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
  const server: Server = await new Promise((resolve) => {
    const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
  });
  const { port } = server.address() as AddressInfo;
  const metricsServer = await startApiMetricsServer(metrics.registry, 0, '127.0.0.1');
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
