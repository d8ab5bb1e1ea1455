// Graceful drain with real sockets: a request in flight finishes, new connections are refused,
// and a request that outlives the grace period is cut.
import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { drain, listen } from './server.js';

function slowApp(ms: number) {
  const app = express();
  app.get('/slow', async (_req, res) => {
    await new Promise((r) => setTimeout(r, ms).unref()); // unref: a cut request leaves no timer behind
    res.json({ done: true });
  });
  return app;
}

const get = (port: number, path: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      })
      .on('error', reject);
  });

test('a request in flight finishes; afterwards no new connection is accepted', async () => {
  const server = await listen(slowApp(300), 0, '127.0.0.1');
  const { port } = server.address() as AddressInfo;
  const inFlight = get(port, '/slow');
  await new Promise((r) => setTimeout(r, 50)); // the request has reached the handler
  const drained = drain(server, 5000);
  expect(await inFlight).toEqual({ status: 200, body: '{"done":true}' });
  expect(await drained).toBe(true);
  await expect(get(port, '/slow')).rejects.toThrow(/ECONNREFUSED/);
});

test('past the grace period the remaining connections are cut', async () => {
  const server = await listen(slowApp(3000), 0, '127.0.0.1');
  const { port } = server.address() as AddressInfo;
  const inFlight = get(port, '/slow').then(
    () => 'answered',
    (e: unknown) => String(e),
  );
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  expect(await drain(server, 200)).toBe(false);
  expect(Date.now() - started).toBeLessThan(1500);
  expect(await inFlight).toMatch(/socket hang up|ECONNRESET/);
});
