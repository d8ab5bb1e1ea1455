import { SENSITIVE_VALUES } from './fixture.js';
import { startSyncMock, type SyncMock } from './sync-mock.js';
import { delay } from './test-support.js';

type Problem = { errors: { field: string; message: string }[] };

const post = (url: string, body: unknown, init: RequestInit = {}): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...init });

describe('sync mock vendor', () => {
  let mock: SyncMock | undefined;
  afterEach(async () => {
    await mock?.close();
    mock = undefined;
  });

  it('answers 200 with padded strings and PII at several depths and in arrays, echoing the request', async () => {
    mock = await startSyncMock();
    const res = await post(mock.fetchUrl, { request_id: 'abc', payload: { q: 'x' } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const data = JSON.parse(text) as Record<string, any>;
    expect(data.echo).toEqual({ request_id: 'abc', payload: { q: 'x' } });
    expect(data.request_key).toBe('abc');
    expect(data.customer.name).toBe('  Ada Lovelace  ');
    expect(data.customer.address.street).toMatch(/^ .* $/);
    expect(data.customer.password).toBeDefined();
    expect(data.payment_methods[0].card_number).toBeDefined();
    expect(data.dependents[1].notes[0].token).toBeDefined();
    expect(data.credentials.api_secret).toBeDefined();
    for (const v of SENSITIVE_VALUES) expect(text).toContain(v);
    const c = mock.counters();
    expect(c).toMatchObject({ requests: 1, served: 1, ok: 1, violations: 0, perKey: { abc: 1 }, inFlight: 0 });
  });

  it('strict rolling limit: N per window pass, the N+1th within 1000 ms is refused with Retry-After and not served', async () => {
    let clock = 1_000_000;
    mock = await startSyncMock({ limitPerSecond: 3, now: () => clock });
    for (let i = 0; i < 3; i++) expect((await post(mock.fetchUrl, { i })).status).toBe(200);
    clock += 999.9; // still inside the window that began with the first call
    const refused = await post(mock.fetchUrl, { i: 3 });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(mock.counters()).toMatchObject({ requests: 4, served: 3, violations: 1, maxRateInAnyRollingSecond: 3 });
    clock += 1.1; // 1001 ms after the first batch: a whole new window
    for (let i = 0; i < 3; i++) expect((await post(mock.fetchUrl, { i })).status).toBe(200);
    expect(mock.counters()).toMatchObject({ served: 6, violations: 1, maxRateInAnyRollingSecond: 3 });
  });

  it('measures the highest rate in any rolling second in real time, also without a limit', async () => {
    mock = await startSyncMock();
    await Promise.all(Array.from({ length: 7 }, (_, i) => post(mock!.fetchUrl, { i })));
    await delay(1100);
    await post(mock.fetchUrl, { i: 'late' });
    const c = mock.counters();
    expect(c.maxRateInAnyRollingSecond).toBe(7);
    expect(c.currentRate).toBe(1);
    expect(c.violations).toBe(0);
  });

  it('latency knob: fixed and ranged', async () => {
    mock = await startSyncMock({ latencyMs: 150 });
    let t0 = performance.now();
    await post(mock.fetchUrl, {});
    expect(performance.now() - t0).toBeGreaterThanOrEqual(145);
    await mock.close();
    mock = await startSyncMock({ latencyMs: { min: 50, max: 250 }, random: () => 1 });
    t0 = performance.now();
    await post(mock.fetchUrl, {});
    expect(performance.now() - t0).toBeGreaterThanOrEqual(245);
  });

  it('errorRate: 1 always fails, 0 never, and a draw below the rate fails', async () => {
    let draw = 0.3;
    mock = await startSyncMock({ errorRate: 1, random: () => draw });
    const r = await post(mock.fetchUrl, {});
    expect(r.status).toBe(500);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    mock.configure({ errorRate: 0.5 });
    expect((await post(mock.fetchUrl, {})).status).toBe(500);
    draw = 0.7;
    expect((await post(mock.fetchUrl, {})).status).toBe(200);
    mock.configure({ errorRate: 0, errorStatus: 503 });
    draw = 0;
    expect((await post(mock.fetchUrl, {})).status).toBe(200);
    expect(mock.counters()).toMatchObject({ served: 4, errors: 2, ok: 2 });
  });

  it('failFirst per key: every key fails N times then recovers; per call: the first N calls overall', async () => {
    mock = await startSyncMock({ failFirst: 2 });
    const statuses = async (key: string, n: number): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await post(mock!.fetchUrl, { request_id: key })).status);
      return out;
    };
    expect(await statuses('a', 3)).toEqual([500, 500, 200]);
    expect(await statuses('b', 3)).toEqual([500, 500, 200]);
    expect(mock.counters()).toMatchObject({ distinctKeys: 2, duplicateKeys: 2, perKey: { a: 3, b: 3 } });
    mock.configure({ failFirstPer: 'call' });
    mock.reset();
    expect(await statuses('c', 1)).toEqual([500]);
    expect(await statuses('d', 2)).toEqual([500, 200]);
    expect(await statuses('e', 1)).toEqual([200]);
  });

  it('throttleNext answers 429 with the configured Retry-After, neither served nor a violation', async () => {
    mock = await startSyncMock({ throttleNext: 2, retryAfterSeconds: 7 });
    const a = await post(mock.fetchUrl, {});
    expect(a.status).toBe(429);
    expect(a.headers.get('retry-after')).toBe('7');
    expect((await post(mock.fetchUrl, {})).status).toBe(429);
    expect((await post(mock.fetchUrl, {})).status).toBe(200);
    expect(mock.counters()).toMatchObject({ requests: 3, throttled: 2, served: 1, violations: 0 });
  });

  it('counts in-flight calls and their maximum; concurrencyLimit refuses the excess', async () => {
    mock = await startSyncMock({ latencyMs: 500 });
    await Promise.all(Array.from({ length: 5 }, () => post(mock!.fetchUrl, {})));
    expect(mock.counters()).toMatchObject({ maxInFlight: 5, inFlight: 0 });
    mock.configure({ concurrencyLimit: 2 });
    mock.reset();
    const res = await Promise.all(Array.from({ length: 5 }, () => post(mock!.fetchUrl, {})));
    expect(res.filter((r) => r.status === 429)).toHaveLength(3);
    expect(mock.counters()).toMatchObject({ concurrencyViolations: 3, served: 2 });
  });

  it('hang never answers: the client times out, and close() still returns promptly', async () => {
    mock = await startSyncMock({ hang: true });
    await expect(post(mock.fetchUrl, {}, { signal: AbortSignal.timeout(200) })).rejects.toThrow();
    const stuck = post(mock.fetchUrl, {}).catch(() => 'closed');
    await delay(100);
    expect(mock.counters()).toMatchObject({ hung: 2, served: 2, ok: 0, inFlight: 1 });
    const t0 = Date.now();
    await mock.close();
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await stuck).toBe('closed');
  });

  it('HTTP hooks: GET/POST /_config, POST /_reset, bad knobs and bad JSON give problem+json 400', async () => {
    mock = await startSyncMock();
    const cfg = await post(`${mock.url}/_config`, { errorRate: 1, latencyMs: 5 });
    expect(cfg.status).toBe(200);
    expect(await cfg.json()).toMatchObject({ errorRate: 1, latencyMs: 5, limitPerSecond: null });
    expect((await post(mock.fetchUrl, {})).status).toBe(500);

    const bad = await post(`${mock.url}/_config`, { errorRate: 2, nosuchknob: 1 });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
    expect(((await bad.json()) as Problem).errors).toEqual([{ field: 'nosuchknob', message: 'unknown knob' }]);
    const bad2 = await post(`${mock.url}/_config`, { errorRate: 2 });
    expect(((await bad2.json()) as Problem).errors[0]?.field).toBe('errorRate');
    expect(((await (await fetch(`${mock.url}/_config`)).json()) as { errorRate: number }).errorRate).toBe(1);

    const malformed = await fetch(mock.fetchUrl, { method: 'POST', body: '{"oops', headers: { 'content-type': 'application/json' } });
    expect(malformed.status).toBe(400);
    expect((await fetch(`${mock.url}/nowhere`)).status).toBe(404);
    expect((await fetch(mock.fetchUrl)).status).toBe(405);

    const counters = (await (await fetch(`${mock.url}/_counters`)).json()) as Record<string, unknown>;
    expect(counters).toMatchObject({ requests: 2, served: 1, errors: 1, badRequests: 1, maxRateInAnyRollingSecond: 1 });
    const reset = await post(`${mock.url}/_reset`, {});
    expect(await reset.json()).toMatchObject({ requests: 0, served: 0, errors: 0, maxRateInAnyRollingSecond: 0, perKey: {} });
    expect((await post(mock.fetchUrl, {})).status).toBe(500); // knobs survive a plain reset
    await post(`${mock.url}/_reset`, { knobs: true });
    expect((await post(mock.fetchUrl, {})).status).toBe(200);
    const slim = (await (await fetch(`${mock.url}/_counters?perKey=false`)).json()) as Record<string, unknown>;
    expect(slim.perKey).toBeUndefined();
    expect(slim.served).toBe(1);
  });

  it('configure() rejects invalid knobs', async () => {
    mock = await startSyncMock();
    expect(() => mock!.configure({ limitPerSecond: 0 })).toThrow(/limitPerSecond/);
    await expect(startSyncMock({ errorRate: -1 })).rejects.toThrow(/errorRate/);
    await expect(startSyncMock({ latencyMS: 5 } as never)).rejects.toThrow(/latencyMS: unknown knob/);
  });
});
