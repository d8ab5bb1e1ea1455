// One HTTP call to a vendor: POST JSON {request_id, payload[, callback_url]}. Turns every way
// a call can end into a CallOutcome; failures the breaker should count are thrown as
// CountedFailure so that cockatiel sees them.
import { subscribe } from 'node:diagnostics_channel';
import type { Job } from '../core/job.js';
import type { VendorSpec } from '../core/vendorpool.js';
import type { Release } from './quota.js';
import { CountedFailure } from './breaker.js';
import { classifyStatus, type CallOutcome } from './decide.js';

export interface VendorRequest {
  spec: Pick<VendorSpec, 'name' | 'mode' | 'url'>;
  job: Pick<Job, 'request_id' | 'payload'>;
  /** Where an async vendor should POST its answer. */
  callbackUrl?: string;
  signal: AbortSignal;
  nowMs: () => number;
  /**
   * The quota grant of this call, told when the call went out and when it ended: the vendor saw
   * the call somewhere in between, and if that may be later than the grant's log entry allows,
   * the gate moves the entry before any later grant relies on it (worker/quota.ts, top).
   */
  grant?: Pick<Release, 'settle'>;
  /** Largest answer read; a longer one fails the call. Default DEFAULT_MAX_ANSWER_BYTES (4 MiB). */
  maxAnswerBytes?: number;
}

// When the request line and headers of each call in flight reached the socket (performance.now()),
// by request id. Why: the quota gate learns a vendor's answer time from round trips, and counted
// from fetch() they include this process' own delays (a new connection took 30-60 ms in the e2e
// on a loaded machine), which would make it think the vendor slower and correct less than needed
// only until it has enough samples — counted from the socket they hold from the first call on.
// Node's fetch (undici) publishes every request it writes on this channel.
const onTheWire = new Map<string, number | undefined>();
const REQUEST_ID_LINE = '\r\nx-request-id: ';
subscribe('undici:client:sendHeaders', (message) => {
  if (onTheWire.size === 0) return;
  const headers = (message as { headers?: unknown }).headers;
  if (typeof headers !== 'string') return;
  // callVendor writes this header itself, in this spelling: a plain search (a case-insensitive
  // regex over every request's headers was ~1 % of the worker's CPU at high job rates).
  const at = headers.indexOf(REQUEST_ID_LINE);
  if (at < 0) return;
  const from = at + REQUEST_ID_LINE.length;
  const end = headers.indexOf('\r\n', from);
  const id = headers.slice(from, end < 0 ? undefined : end).trim();
  if (onTheWire.has(id)) onTheWire.set(id, performance.now());
});

/** Resolves with answered / accepted / rate_limited / rejected; throws CountedFailure for the rest. */
export async function callVendor(req: VendorRequest): Promise<CallOutcome> {
  let body: string;
  try {
    body = JSON.stringify({
      request_id: req.job.request_id,
      payload: req.job.payload,
      ...(req.spec.mode === 'async' && req.callbackUrl ? { callback_url: req.callbackUrl } : {}),
    });
  } catch (e) {
    // A payload JSON cannot write (nested too deep for the stack: the api refuses such bodies,
    // but a job stored before that check may hold one). Trying again cannot help: a refusal,
    // so the job fails with a reason instead of cycling through the sweeper uncalled.
    return { kind: 'rejected', status: 0, error: `payload_unserializable: ${(e as Error).name}` };
  }
  let res: Response;
  // Nothing between here and fetch: the grant's margin is spent on the way to the vendor.
  const id = req.job.request_id;
  if (req.grant) onTheWire.set(id, undefined);
  const sentAt = performance.now();
  const timing = (answered: boolean) => {
    const wireAt = onTheWire.get(id);
    onTheWire.delete(id);
    return { sentAt, endedAt: performance.now(), answered, ...(wireAt !== undefined ? { wireAt } : {}) };
  };
  try {
    res = await fetch(req.spec.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-request-id': req.job.request_id },
      body,
      signal: req.signal,
      // Never follow: a redirect would send the job's payload to wherever the vendor (or
      // whoever answers in its name) points, and make that server's answer the job's result.
      redirect: 'manual',
    });
  } catch (e) {
    await req.grant?.settle(timing(false));
    if (req.signal.aborted) throw e; // the timeout policy owns this one
    throw new CountedFailure('vendor_unreachable', `vendor_unreachable: ${networkReason(e)}`);
  }
  // Sent now, not waited for: the answer need not sit behind a Redis round trip (settle never
  // throws, and until it lands the gate only counts the grant more cautiously).
  void req.grant?.settle(timing(true));
  const c = classifyStatus(res.status, req.spec.mode, res.headers.get('retry-after'), req.nowMs());
  if (c !== 'read_body') {
    await res.body?.cancel().catch(() => {
      // Discarding an answer we do not read: a failure here only means the socket is gone.
    });
    if (c.kind === 'failed') throw new CountedFailure(c.code, c.error, res.status);
    return c;
  }
  const text = await readLimited(res, req.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES, req.signal);
  try {
    return { kind: 'answered', status: res.status, body: text.trim() === '' ? null : JSON.parse(text) };
  } catch {
    throw new CountedFailure('vendor_bad_answer', `vendor_bad_answer: HTTP ${res.status} with a body that is not JSON`, res.status);
  }
}

/** Largest vendor answer read, unless the caller says otherwise: 4 MiB. */
export const DEFAULT_MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/**
 * The answer's body as text, read as a stream and given up as soon as it passes `maxBytes`
 * (Content-Length is checked first, but a chunked answer has none, so the count decides).
 */
async function readLimited(res: Response, maxBytes: number, signal: AbortSignal): Promise<string> {
  const tooLarge = () =>
    new CountedFailure('vendor_answer_too_large', `vendor_answer_too_large: the answer exceeds the limit of ${maxBytes} bytes`);
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => {
      // Not reading it is the point; a failing cancel only means the socket is already gone.
    });
    throw tooLarge();
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {
          // As above: we stop reading either way.
        });
        throw tooLarge();
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof CountedFailure || signal.aborted) throw e;
    throw new CountedFailure('vendor_bad_answer', `vendor_bad_answer: the answer broke off (${networkReason(e)})`);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

// What a network failure was, by its error code only: the messages carry the vendor's host
// name, address and port, and job errors are shown to clients (GET /jobs/{id}).
const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_HEADERS_TIMEOUT: 'no answer headers in time',
  UND_ERR_BODY_TIMEOUT: 'answer body stalled',
};

export function networkReason(e: unknown): string {
  for (let err: unknown = e, i = 0; err && i < 5; err = (err as { cause?: unknown }).cause, i++) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (code in NETWORK_REASONS) return NETWORK_REASONS[code]!;
      if (code.startsWith('ERR_TLS') || code.includes('CERT')) return 'TLS error';
    }
  }
  return 'network error';
}
