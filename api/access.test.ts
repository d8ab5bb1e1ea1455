// API keys and the per-client rate limit, over real HTTP with a real Redis for the limiter.
import { createHash, randomUUID } from 'node:crypto';
import { matchApiKey } from './access.js';
import { postJson, startApi, startServices, type TestApi, type TestServices } from './test-support.js';

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
    expect(await s.store.countByStatus('acme')).toEqual({ pending: 0, processing: 0, complete: 0, failed: 0 });
  });

  test('a configured key → accepted', async () => {
    const res = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: {} }, { authorization: 'Bearer k-two' });
    expect(res.status).toBe(202);
  });

  test('probes, metrics and the (signature-checked) webhook route need no key', async () => {
    expect((await fetch(`${api.base}/healthz`)).status).toBe(200);
    expect((await fetch(`${api.base}/readyz`)).status).toBe(200);
    expect((await fetch(`${api.base}/metrics`)).status).toBe(200);
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
