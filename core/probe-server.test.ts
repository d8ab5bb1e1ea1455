// The probe server over real HTTP: what the api, worker and controller Deployments probe and
// what Prometheus scrapes.
import { Counter, Registry } from 'prom-client';
import { startProbeServer, type ProbeServer } from './probe-server.js';

const registry = new Registry();
new Counter({ name: 'probe_test_total', help: 'A series the test looks for.', registers: [registry] }).inc(3);

const servers: ProbeServer[] = [];
afterAll(() => Promise.all(servers.map((s) => s.close())));

async function start(readiness?: () => Promise<string[]>): Promise<string> {
  const server = await startProbeServer({ port: 0, host: '127.0.0.1', registry, ...(readiness ? { readiness } : {}) });
  servers.push(server);
  return `http://127.0.0.1:${server.port}`;
}

test('/metrics is the registry in Prometheus text; /healthz answers while the process runs', async () => {
  const base = await start();
  const metrics = await fetch(`${base}/metrics?x=1`);
  expect(metrics.status).toBe(200);
  expect(metrics.headers.get('content-type')).toBe(registry.contentType);
  expect(await metrics.text()).toContain('probe_test_total 3');
  const health = await fetch(`${base}/healthz`);
  expect(health.status).toBe(200);
  expect(await health.json()).toEqual({ status: 'ok' });
});

test('/readyz reports the readiness check: its problems → 503, a failing check → 503, none → 200', async () => {
  let check: () => Promise<string[]> = async () => ['redis unreachable'];
  const base = await start(() => check());
  const notReady = await fetch(`${base}/readyz`);
  expect(notReady.status).toBe(503);
  expect(await notReady.json()).toEqual({ status: 'not ready', problems: ['redis unreachable'] });
  check = () => Promise.reject(new Error('check broke'));
  expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ status: 'not ready', problems: ['check broke'] });
  check = async () => [];
  const ready = await fetch(`${base}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toEqual({ status: 'ready', problems: [] });
});

test('no /readyz without a check; other paths 404, other methods 405; close() is idempotent', async () => {
  const server = await startProbeServer({ port: 0, host: '127.0.0.1', registry });
  const base = `http://127.0.0.1:${server.port}`;
  expect((await fetch(`${base}/readyz`)).status).toBe(404);
  const missing = await fetch(`${base}/nothing`);
  expect(missing.status).toBe(404);
  expect(missing.headers.get('content-type')).toBe('application/problem+json');
  const post = await fetch(`${base}/metrics`, { method: 'POST' });
  expect(post.status).toBe(405);
  expect(post.headers.get('allow')).toBe('GET');
  const closed = server.close();
  expect(server.close()).toBe(closed);
  await closed;
  await expect(fetch(`${base}/healthz`)).rejects.toThrow();
});
