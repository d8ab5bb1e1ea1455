// Tiny HTTP(S) GET and a readiness poller for the servers the harness starts.
import http from 'node:http';
import https from 'node:https';
import { describeFailure, type StartedServer } from './processes.js';

export interface GetOptions {
  /** PEM bundle to trust for https URLs. */
  ca?: string;
  /** Bearer token. */
  token?: string;
  timeoutMs?: number;
}

export function httpGet(url: string, opts: GetOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
    const req = url.startsWith('https:')
      ? https.get(url, { headers, ca: opts.ca, agent: false }, onResponse)
      : http.get(url, { headers, agent: false }, onResponse);
    req.setTimeout(opts.timeoutMs ?? 2_000, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.once('error', reject);
    function onResponse(res: http.IncomingMessage) {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.once('error', reject);
    }
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `probe` until it returns true. Fails at once if the server process exits, and after
 * `timeoutMs` with the end of the server's log in the message.
 */
export async function waitUntil(
  what: string,
  server: StartedServer,
  timeoutMs: number,
  probe: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    if (server.exit) throw new Error(describeFailure(server));
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} not ready after ${timeoutMs} ms (last probe error: ${lastError || 'none'})\n${describeFailure(server)}`);
    }
    await sleep(150);
  }
}
