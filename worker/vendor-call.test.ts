// callVendor against a real HTTP server on 127.0.0.1.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CallTiming } from './quota.js';
import { callVendor } from './vendor-call.js';

let server: Server;
let url: string;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(String(req.headers['x-request-id']));
    req.resume();
    req.on('end', () => res.setHeader('content-type', 'application/json').end(JSON.stringify({ ok: true })));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fetch`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

test('answers, and tells the grant when the request reached the socket (between sending and the answer)', async () => {
  const timings: CallTiming[] = [];
  const grant = { settle: async (t: CallTiming) => void timings.push(t) };
  const spec = { name: 'v', mode: 'sync' as const, url };
  const outcomes = await Promise.all(
    ['r-1', 'r-2', 'r-3'].map((id) => callVendor({ spec, job: { request_id: id, payload: { q: id } }, signal: new AbortController().signal, nowMs: Date.now, grant })),
  );
  expect(outcomes).toEqual(Array(3).fill({ kind: 'answered', status: 200, body: { ok: true } }));
  expect(seen.sort()).toEqual(['r-1', 'r-2', 'r-3']);
  expect(timings).toHaveLength(3);
  for (const t of timings) {
    expect(t.answered).toBe(true);
    expect(t.wireAt).toBeDefined();
    expect(t.wireAt!).toBeGreaterThanOrEqual(t.sentAt);
    expect(t.wireAt!).toBeLessThanOrEqual(t.endedAt);
  }
});

test('a payload JSON cannot encode (too deep for the stack) is a refused call, never a thrown error', async () => {
  // Issue 10 item 6: the worker's own stringify overflowed after startAttempt, so the job
  // cycled through the sweeper and the vendor was never called. Now it is a plain rejection.
  let deep: unknown = 1;
  for (let i = 0; i < 20_000; i++) deep = [deep];
  const before = seen.length;
  const outcome = await callVendor({
    spec: { name: 'v', mode: 'sync', url },
    job: { request_id: 'r-deep', payload: deep },
    signal: new AbortController().signal,
    nowMs: Date.now,
  });
  expect(outcome).toMatchObject({ kind: 'rejected', error: expect.stringMatching(/^payload_unserializable/) });
  expect(seen.length).toBe(before); // nothing was sent
});

// Issue 10 item 10: redirects, unbounded answers, and vendor addresses in client-visible errors.
describe('hostile or broken vendors', () => {
  const servers: Server[] = [];
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });
  async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
    const s = createServer(handler);
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  }
  const call = (target: string, maxAnswerBytes?: number) =>
    callVendor({
      spec: { name: 'v', mode: 'sync', url: target },
      job: { request_id: 'r-x', payload: { secret: 'payload' } },
      signal: new AbortController().signal,
      nowMs: Date.now,
      ...(maxAnswerBytes === undefined ? {} : { maxAnswerBytes }),
    });

  test('a 307 redirect is not followed: the call fails, and the other server never sees the payload', async () => {
    let elsewhere = 0;
    const other = await serve((req, res) => {
      elsewhere++;
      req.resume();
      res.setHeader('content-type', 'application/json').end('{"stolen":true}');
    });
    const redirecting = await serve((req, res) => {
      req.resume();
      res.writeHead(307, { location: `${other}/collect` }).end();
    });
    await expect(call(`${redirecting}/fetch`)).rejects.toMatchObject({ code: 'vendor_redirect', message: expect.stringMatching(/^vendor_redirect: HTTP 307/) });
    expect(elsewhere).toBe(0);
  });

  test('an answer over the byte limit fails the call, with or without Content-Length', async () => {
    const big = JSON.stringify({ blob: 'x'.repeat(2 * 1024 * 1024) });
    const withLength = await serve((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(big)) }).end(big);
    });
    const chunked = await serve((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < 8; i++) res.write(big.slice(i * (big.length / 8), (i + 1) * (big.length / 8)));
      res.end();
    });
    for (const target of [withLength, chunked]) {
      await expect(call(`${target}/fetch`, 1024 * 1024)).rejects.toMatchObject({ code: 'vendor_answer_too_large' });
    }
    // Under the limit, the same answer is read.
    await expect(call(`${withLength}/fetch`, 4 * 1024 * 1024)).resolves.toMatchObject({ kind: 'answered' });
  });

  test('a vendor that cannot be reached: the error names neither its host nor its address', async () => {
    const port = await new Promise<number>((r) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => r(p));
      });
    });
    const err = (await call(`http://127.0.0.1:${port}/fetch`).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'vendor_unreachable' });
    expect(err.message).not.toContain('127.0.0.1');
    expect(err.message).not.toContain(String(port));
    expect(err.message).toMatch(/^vendor_unreachable: connection refused/);
    const dns = (await call('http://vendor.invalid/fetch').catch((e: unknown) => e)) as Error;
    expect(dns.message).not.toContain('vendor.invalid');
  });
});
