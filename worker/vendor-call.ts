// One HTTP call to a vendor: POST JSON {request_id, payload[, callback_url]}. Turns every way
// a call can end into a CallOutcome; failures the breaker should count are thrown as
// CountedFailure so that cockatiel sees them.
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

/** Resolves with answered / accepted / rate_limited / rejected; throws CountedFailure for the rest. */
export async function callVendor(req: VendorRequest): Promise<CallOutcome> {
  const body = JSON.stringify({
    request_id: req.job.request_id,
    payload: req.job.payload,
    ...(req.spec.mode === 'async' && req.callbackUrl ? { callback_url: req.callbackUrl } : {}),
  });
  let res: Response;
  // Nothing between here and fetch: the grant's margin is spent on the way to the vendor.
  const sentAt = performance.now();
  try {
    res = await fetch(req.spec.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-request-id': req.job.request_id },
      body,
      signal: req.signal,
    });
  } catch (e) {
    await req.grant?.settle({ sentAt, endedAt: performance.now(), answered: false });
    if (req.signal.aborted) throw e; // the timeout policy owns this one
    throw new CountedFailure('vendor_unreachable', `vendor_unreachable: ${(e as Error).cause ? String((e as { cause: unknown }).cause) : (e as Error).message}`);
  }
  await req.grant?.settle({ sentAt, endedAt: performance.now(), answered: true });
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
