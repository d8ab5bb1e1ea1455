// The socket-level guard of callback POSTs (worker/callback-http.ts): the lookup returns only
// checked addresses (what the socket then connects to), and IP literals are checked before any
// request. The end-to-end refusals (names, redirects, http) are in worker/callbacks.test.ts.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseCallbackClients, type CallbackClient } from '../core/callback-policy.js';
import { CallbackRefused, guardedLookup, postCallback } from './callback-http.js';

const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
function client(allow: string[]): CallbackClient {
  const r = parseCallbackClients(JSON.stringify([{ secret: SECRET, allow }]));
  if (!r.ok) throw new Error(r.problems.join('; '));
  return r.clients.get('anonymous')!;
}

const lookup = (c: CallbackClient, host: string, all: boolean) =>
  new Promise<{ err: Error | null; address: unknown }>((resolve) => {
    guardedLookup(c)(host, { all }, (err, address) => resolve({ err, address }));
  });

test('the lookup refuses a name whose every address is non-public, and returns only allowlisted addresses otherwise', async () => {
  const refused = await lookup(client(['localhost']), 'localhost', false);
  expect(refused.err).toBeInstanceOf(CallbackRefused);
  expect(refused.err?.message).toMatch(/^address_refused: localhost resolves to/);

  const v4only = await lookup(client(['localhost', '127.0.0.1/32']), 'localhost', true);
  expect(v4only.err).toBeNull();
  expect(v4only.address).toEqual([{ address: '127.0.0.1', family: 4 }]);
  const single = await lookup(client(['localhost', '127.0.0.1/32']), 'localhost', false);
  expect(single.address).toBe('127.0.0.1');
});

test('an IP literal not allowed is refused before any connection; an allowed one is posted to', async () => {
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits += 1;
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const url = new URL(`http://127.0.0.1:${port}/hook`);
    const req = { url, body: '{}', headers: {}, timeoutMs: 2000 };
    expect(await postCallback({ ...req, client: client(['http://*.example.com']) })).toEqual({
      kind: 'refused',
      error: 'address_refused: 127.0.0.1 is not public and not on the allowlist',
    });
    expect(hits).toBe(0);
    expect(await postCallback({ ...req, client: client(['http://127.0.0.1']) })).toEqual({ kind: 'delivered', status: 204 });
    expect(hits).toBe(1);
    // Nobody listening: a retryable network error, not a refusal.
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    expect(await postCallback({ ...req, client: client(['http://127.0.0.1']) })).toMatchObject({ kind: 'retry', error: 'unreachable: ECONNREFUSED' });
  } finally {
    server.close();
  }
});
