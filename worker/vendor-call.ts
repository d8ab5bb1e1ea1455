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
  const body = JSON.stringify({
    request_id: req.job.request_id,
    payload: req.job.payload,
    ...(req.spec.mode === 'async' && req.callbackUrl ? { callback_url: req.callbackUrl } : {}),
  });
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
    });
  } catch (e) {
    await req.grant?.settle(timing(false));
    if (req.signal.aborted) throw e; // the timeout policy owns this one
    throw new CountedFailure('vendor_unreachable', `vendor_unreachable: ${(e as Error).cause ? String((e as { cause: unknown }).cause) : (e as Error).message}`);
  }
  await req.grant?.settle(timing(true));
  const c = classifyStatus(res.status, req.spec.mode, res.headers.get('retry-after'), req.nowMs());
  if (c !== 'read_body') {
    await res.body?.cancel().catch(() => {});
    if (c.kind === 'failed') throw new CountedFailure(c.code, c.error);
    return c;
  }
  const text = await res.text();
  try {
    return { kind: 'answered', status: res.status, body: text.trim() === '' ? null : JSON.parse(text) };
  } catch {
    throw new CountedFailure('vendor_bad_answer', `vendor_bad_answer: HTTP ${res.status} with a body that is not JSON`);
  }
}
