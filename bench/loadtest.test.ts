// The load test's arithmetic (percentiles, thresholds) and a short run of its VU driver against
// a small real HTTP server (about 2 s), so the summary and the exit decision can be trusted.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseMix, pickVendor, runLoad } from './loadtest-driver.js';
import { formatSummary, latencyStats, percentile, summarize, type Sample } from './loadtest-stats.js';

describe('percentiles and thresholds', () => {
  test('nearest rank', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 95)).toBe(95);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 95)).toBeNaN();
  });

  test('latency stats do not depend on the order of samples', () => {
    expect(latencyStats([30, 10, 20, 40])).toEqual({ count: 4, avg: 25, min: 10, p50: 20, p90: 40, p95: 40, p99: 40, max: 40 });
  });

  const shape = { vus: 10, rampSeconds: 1, durationSeconds: 2, elapsedSeconds: 3 };
  const fast = (n: number, kind: Sample['kind'] = 'post'): Sample[] => Array.from({ length: n }, (_, i) => ({ kind, ms: 10 + (i % 10), ok: true, at: 1 + (i % 20) / 10 }));

  test('all fast and fine → pass, with rates per whole run and at full load', () => {
    const s = summarize([...fast(70), ...fast(30, 'get')], shape);
    expect(s.pass).toBe(true);
    expect(s.byKind.post.count).toBe(70);
    expect(s.byKind.get.count).toBe(30);
    expect(s.rate).toBeCloseTo(100 / 3);
    expect(s.fullLoadRate).toBeCloseTo(100 / 2);
  });

  test('p95 at or over the limit fails; just under passes', () => {
    const slow = (ms: number): Sample[] => Array.from({ length: 6 }, () => ({ kind: 'get', ms, ok: true, at: 1.5 }));
    // 94 fast + 6 slow: the 95th of 100 is slow.
    expect(summarize([...fast(94), ...slow(2000)], shape).checks[0]!.pass).toBe(false);
    expect(summarize([...fast(94), ...slow(1999)], shape).checks[0]!.pass).toBe(true);
    // 96 fast + 4 slow: the 95th is fast.
    expect(summarize([...fast(96), ...slow(5000)].slice(0, 100), shape).checks[0]!.pass).toBe(true);
  });

  test('1 % failed fails the error threshold; 0.9 % passes', () => {
    const withFailures = (failed: number, total: number) =>
      summarize(fast(total).map((s, i) => ({ ...s, ok: i >= failed })), shape);
    expect(withFailures(10, 1000).pass).toBe(false);
    expect(withFailures(9, 1000).pass).toBe(true);
  });

  test('no samples at all is a failure, not a vacuous pass', () => {
    expect(summarize([], shape).pass).toBe(false);
  });

  test('the summary names each threshold with its result', () => {
    const text = formatSummary(summarize(fast(100), shape), shape, 'http://127.0.0.1:1');
    expect(text).toMatch(/✓ 'http_req_duration p\(95\)<2000' p\(95\)=1\d\.00ms/);
    expect(text).toMatch(/✓ 'http_req_failed rate<0.01' rate=0\.00%/);
    expect(text).toMatch(/http_reqs\.+: 100 {2}33\.3\/s/);
    expect(text).toContain('all thresholds passed');
  });
});

describe('vendor mix', () => {
  test('parsing and weighted choice', () => {
    const mix = parseMix('sync=7, async=3');
    expect(mix).toEqual([{ vendor: 'sync', weight: 7 }, { vendor: 'async', weight: 3 }]);
    expect(pickVendor(mix, 0)).toBe('sync');
    expect(pickVendor(mix, 0.69)).toBe('sync');
    expect(pickVendor(mix, 0.7)).toBe('async');
    expect(pickVendor(mix, 0.999)).toBe('async');
    expect(parseMix('only')).toEqual([{ vendor: 'only', weight: 1 }]);
    expect(() => parseMix('a=0')).toThrow(/bad vendor mix/);
    expect(() => parseMix('')).toThrow(/names no vendor/);
  });
});

describe('the driver against a real HTTP server', () => {
  let server: http.Server;
  let base: string;
  const issued = new Set<string>();
  const seen = { posts: 0, gets: 0, foreignGets: 0, vendors: new Map<string, number>(), failEvery: 0 };

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/api/jobs') {
          seen.posts += 1;
          const { vendor } = JSON.parse(body) as { vendor: string };
          seen.vendors.set(vendor, (seen.vendors.get(vendor) ?? 0) + 1);
          if (seen.failEvery > 0 && seen.posts % seen.failEvery === 0) {
            res.writeHead(503).end();
            return;
          }
          const id = randomUUID();
          issued.add(id);
          res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ request_id: id }));
        } else if (req.method === 'GET' && req.url?.startsWith('/api/jobs/')) {
          seen.gets += 1;
          if (!issued.has(req.url.slice('/api/jobs/'.length))) seen.foreignGets += 1;
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } else {
          res.writeHead(404).end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('ramps, mixes 70/30, reads only its own jobs, and stops on time', async () => {
    const started = Date.now();
    const r = await runLoad({ target: base, vus: 8, rampSeconds: 0.5, durationSeconds: 1, thinkMs: 20, mix: parseMix('a=3,b=1') });
    expect(Date.now() - started).toBeLessThan(3000);
    const posts = r.samples.filter((s) => s.kind === 'post').length;
    const gets = r.samples.filter((s) => s.kind === 'get').length;
    expect(posts).toBe(seen.posts);
    expect(gets).toBe(seen.gets);
    expect(posts + gets).toBeGreaterThan(100);
    expect(gets / (posts + gets)).toBeGreaterThan(0.2);
    expect(gets / (posts + gets)).toBeLessThan(0.4);
    expect(seen.foreignGets).toBe(0);
    expect(seen.vendors.get('a')!).toBeGreaterThan(seen.vendors.get('b')!);
    // Nothing was sent before the first VU started or after the end.
    expect(Math.max(...r.samples.map((s) => s.at))).toBeLessThan(1.5);
    expect(r.failures).toEqual({});
    expect(summarize(r.samples, { vus: 8, rampSeconds: 0.5, durationSeconds: 1, elapsedSeconds: r.elapsedSeconds }).pass).toBe(true);
  });

  test('answers other than expected count as failures, by cause, and fail the run', async () => {
    seen.failEvery = 5; // every 5th POST → 503: ~14 % of requests
    const r = await runLoad({ target: base, vus: 4, rampSeconds: 0, durationSeconds: 0.6, thinkMs: 10, mix: parseMix('a') });
    seen.failEvery = 0;
    expect(r.failures['503']).toBeGreaterThan(0);
    const s = summarize(r.samples, { vus: 4, rampSeconds: 0, durationSeconds: 0.6, elapsedSeconds: r.elapsedSeconds });
    expect(s.failed).toBe(r.failures['503']);
    expect(s.checks[1]!.pass).toBe(false);
    expect(s.pass).toBe(false);
  });

  test('a target that refuses connections fails every request', async () => {
    const r = await runLoad({ target: 'http://127.0.0.1:9', vus: 2, rampSeconds: 0, durationSeconds: 0.3, thinkMs: 50, mix: parseMix('a') });
    expect(r.samples.length).toBeGreaterThan(0);
    expect(r.samples.every((s) => !s.ok)).toBe(true);
    expect(Object.keys(r.failures)).toEqual(['ECONNREFUSED']);
  });
});
