// API keys and the per-client rate limit, over real HTTP with a real Redis for the limiter.
import { createHash, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { matchApiKey } from './access.js';
import { postJson, startApi, startServices, type TestApi, type TestServices } from '../testing/api-app.js';

test('matchApiKey finds the right key and rejects near misses', () => {
  const digests = ['alpha-key', 'beta-key'].map((k) => createHash('sha256').update(k).digest());
  expect(matchApiKey('beta-key', digests)).toBe(1);
  expect(matchApiKey('alpha-key', digests)).toBe(0);
  expect(matchApiKey('beta-ke', digests)).toBe(-1);
  expect(matchApiKey('', digests)).toBe(-1);
});

describe('over HTTP', () => {
  let s: TestServices;
  let api: TestApi;
  beforeAll(async () => {
    s = await startServices();
    api = await startApi(s, { apiKeys: ['k-one', 'k-two'], clientRateLimit: 3 });
  });
  afterAll(async () => {
    await api?.close();
    await s?.close();
  });

  test('no or a wrong bearer token → 401 with WWW-Authenticate', async () => {
    const missing = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: {} });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const wrong = await fetch(`${api.base}/jobs/${randomUUID()}`, { headers: { authorization: 'Bearer k-three' } });
    expect(wrong.status).toBe(401);
    const notBearer = await fetch(`${api.base}/openapi.json`, { headers: { authorization: 'Basic k-one' } });
    expect(notBearer.status).toBe(401);
    expect(await s.store.countByStatus('acme')).toEqual({ pending: 0, processing: 0, complete: 0, failed: 0, cancelled: 0 });
  });

  test('a configured key → accepted', async () => {
    const res = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: {} }, { authorization: 'Bearer k-two' });
    expect(res.status).toBe(202);
  });

  test('probes, metrics (on their own port) and the (signature-checked) webhook route need no key', async () => {
    expect((await fetch(`${api.base}/healthz`)).status).toBe(200);
    expect((await fetch(`${api.base}/readyz`)).status).toBe(200);
    expect((await fetch(`${api.metricsBase}/metrics`)).status).toBe(200);
    // Reaches the webhook handler: unknown vendor → 404, not the API key's 401.
    expect((await postJson(`${api.base}/vendor-webhook/nobody`, {})).status).toBe(404);
  });

  test('more than the per-client rate → 429 with Retry-After; other clients keep their budget', async () => {
    // The limiter's 1-second window opens at the client's first request; 5 quick requests fit.
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${api.base}/jobs/${randomUUID()}`, { headers: { authorization: 'Bearer k-one' } });
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter = res.headers.get('retry-after');
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      }
    }
    expect(statuses.slice(0, 3)).toEqual([404, 404, 404]);
    expect(statuses.slice(3)).toEqual([429, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    const other = await fetch(`${api.base}/jobs/${randomUUID()}`, { headers: { authorization: 'Bearer k-two' } });
    expect(other.status).not.toBe(429);
  });
});

// Issue 10 item 9: authentication details.
describe('authentication details', () => {
  let s: TestServices;
  beforeAll(async () => {
    s = await startServices();
  });
  afterAll(async () => {
    await s?.close();
  });

  test('the Bearer scheme is case-insensitive (RFC 9110)', async () => {
    const api = await startApi(s, { apiKeys: ['k-case'] });
    try {
      for (const scheme of ['bearer', 'BEARER', 'Bearer', 'bEaReR']) {
        const res = await fetch(`${api.base}/jobs/${randomUUID()}`, { headers: { authorization: `${scheme} k-case` } });
        expect([scheme, res.status]).toEqual([scheme, 404]);
      }
    } finally {
      await api.close();
    }
  });

  test('failed authentications count against the per-client limit (401 ×3, then 429)', async () => {
    const api = await startApi(s, { apiKeys: ['k-good'], clientRateLimit: 3 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${api.base}/jobs/${randomUUID()}`, { headers: { authorization: `Bearer guess-${i}` } });
        statuses.push(res.status);
        if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
    } finally {
      await api.close();
    }
  });

  test('the webhook route has a limit of its own (per source), separate from the client limit', async () => {
    const api = await startApi(s, { webhookRateLimit: 2 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        statuses.push((await postJson(`${api.base}/vendor-webhook/slowco`, { request_id: randomUUID(), data: {} })).status);
      }
      expect(statuses).toEqual([401, 401, 429, 429]);
      // Client routes are not limited by it.
      expect((await fetch(`${api.base}/jobs/${randomUUID()}`)).status).toBe(404);
    } finally {
      await api.close();
    }
  });

  test('an unknown vendor on the webhook route is refused before its (256 KiB) body is read', async () => {
    const api = await startApi(s);
    try {
      const { port } = new URL(api.base);
      // Announce 256 KiB, send 10 bytes, then wait: an api that reads the body first never answers.
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: Number(port), method: 'POST', path: '/vendor-webhook/nobody', headers: { 'content-type': 'application/json', 'content-length': String(256 * 1024) } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
            req.destroy();
          },
        );
        req.on('error', () => undefined);
        req.write('{"data": 1');
        setTimeout(() => reject(new Error('no answer within 2 s: the body is being read before the vendor check')), 2000).unref();
      });
      expect(status).toBe(404);
    } finally {
      await api.close();
    }
  });

  test('/metrics is not served on the public port; the separate metrics listener serves it', async () => {
    const api = await startApi(s);
    try {
      expect((await fetch(`${api.base}/metrics`)).status).toBe(404);
      const res = await fetch(`${api.metricsBase}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('vendorfetch_http_requests_total');
    } finally {
      await api.close();
    }
  });
});
