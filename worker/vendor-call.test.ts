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
