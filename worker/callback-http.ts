// One completion-callback POST, with the SSRF guard at the socket: the host is resolved once by
// our own `lookup`, every address it returns is checked (core/callback-policy.ts), and the
// socket connects only to an address that passed — so a DNS answer that changes between the
// check and the connect (rebinding) cannot reach a private address. IP literals skip Node's
// lookup, so they are checked here before the request. Redirects are never followed (a 3xx is a
// refusal: following one would leave the allowlist). No connection reuse (agent: false): each
// socket is one that this guard opened.
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { addressAllowed, type CallbackClient } from '../core/callback-policy.js';

/** Our lookup's refusal; told apart from network errors by class, never by message. */
export class CallbackRefused extends Error {
  override readonly name = 'CallbackRefused';
}

export type SendResult =
  | { kind: 'delivered'; status: number }
  /** Worth another attempt: network error, timeout, a non-2xx answer that is not a redirect. */
  | { kind: 'retry'; error: string }
  /** Never worth another attempt: the address or a redirect is refused. */
  | { kind: 'refused'; error: string };

/** A lookup that returns only addresses the client may receive callbacks on (else an error). */
export function guardedLookup(client: CallbackClient): LookupFunction {
  return ((hostname: string, options: dns.LookupOptions, callback: (err: Error | null, address: string | dns.LookupAddress[], family?: number) => void) => {
    dns.lookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses) => {
      if (err) return callback(err, '');
      const allowed = addresses.filter((a) => addressAllowed(a.address, client));
      if (allowed.length === 0) {
        const seen = addresses.map((a) => a.address).join(', ');
        return callback(new CallbackRefused(`address_refused: ${hostname} resolves to ${seen}, not public and not on the allowlist`), '');
      }
      if (options.all) return callback(null, allowed);
      callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  }) as LookupFunction;
}

export interface CallbackRequest {
  url: URL;
  body: string;
  headers: Record<string, string>;
  client: CallbackClient;
  timeoutMs: number;
}

export function postCallback(req: CallbackRequest): Promise<SendResult> {
  const host = req.url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0 && !addressAllowed(host, req.client)) {
    return Promise.resolve({ kind: 'refused', error: `address_refused: ${host} is not public and not on the allowlist` });
  }
  const send = req.url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: SendResult) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const request = send(req.url, {
      method: 'POST',
      agent: false,
      lookup: guardedLookup(req.client),
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(req.body), 'user-agent': 'vendorfetch-callbacks', ...req.headers },
      signal: AbortSignal.timeout(req.timeoutMs),
    });
    request.on('response', (res) => {
      const status = res.statusCode ?? 0;
      // The answer's body is of no use, and a receiver could stream it forever: close at once.
      res.destroy();
      if (status >= 200 && status < 300) done({ kind: 'delivered', status });
      else if (status >= 300 && status < 400) done({ kind: 'refused', error: `redirect_refused: HTTP ${status} (redirects are not followed)` });
      else done({ kind: 'retry', error: `receiver_error: HTTP ${status}` });
    });
    request.on('error', (err: Error & { code?: string }) => {
      if (err instanceof CallbackRefused) done({ kind: 'refused', error: err.message });
      else if (err.name === 'TimeoutError' || err.name === 'AbortError') done({ kind: 'retry', error: `timeout: no answer within ${req.timeoutMs} ms` });
      else done({ kind: 'retry', error: `unreachable: ${err.code ?? err.message}` });
    });
    request.end(req.body);
  });
}
