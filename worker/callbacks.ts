// The completion-callback sender: a small loop in every worker process that POSTs the final
// state of finished jobs to their callback_url (Standard Webhooks signature, per-client secret).
//
// Why a loop over the store rather than "the worker that finished the job sends it": jobs also
// finish outside a worker's call — an async vendor's webhook completes them in the api, a
// client's cancel in the api, the sweeper fails them — and a worker can be killed between its
// store write and its POST. The store already says which finished jobs still owe a callback
// (callback.state = pending, next_at passed), so every worker polls that one indexed query and
// claims each delivery by compare-and-set (claimCallback): one sender per attempt, however many
// workers poll. The claim moves next_at to a lease; a sender killed mid-send leaves the delivery
// due again when the lease ends, so a delivery is at-least-once, and its webhook-id is stable
// per job (`job_<request_id>`) so that a receiver can drop the repeat.
//
// Retries: any non-2xx (other than a redirect), a network error or a timeout → pending again
// after an exponential backoff with jitter; after maxAttempts → failed (the dead letter:
// counted in vendorfetch_callbacks_total{outcome="dead_letter"} and logged). A refusal — the
// address is not public and not allowlisted, a redirect, a URL no longer on the allowlist —
// is dead-lettered at once: repeating it would be refused the same way.
import { nextBackoff } from '../core/backoff.js';
import { ANONYMOUS_CLIENT, checkCallbackUrl, type CallbackClient } from '../core/callback-policy.js';
import type { Job, JobStore } from '../core/job.js';
import type { Logger } from '../core/logger.js';
import { webhookHeaders } from '../core/webhook-signing.js';
import { postCallback, type SendResult } from './callback-http.js';
import type { WorkerMetrics } from './metrics.js';

export interface CallbackSenderOptions {
  /**
   * How often the store is asked for due deliveries. Default 500 ms; with no client configured
   * on this worker (VF_CALLBACK_CLIENTS empty), IDLE_POLL_MS.
   */
  pollIntervalMs?: number;
  /** Deliveries claimed per poll. Default 50. */
  batch?: number;
  /** Deliveries in flight at once. Default 8. */
  concurrency?: number;
  /** Attempts before a delivery is dead-lettered. Default 8. */
  maxAttempts?: number;
  /** Backoff step of the first retry. Default 1000 ms. */
  initialBackoffMs?: number;
  /** Longest wait between attempts. Default 300000 ms (5 min). */
  maxBackoffMs?: number;
  /** One POST's deadline (connect to last byte of the status line). Default 10000 ms. */
  timeoutMs?: number;
}

export interface CallbackSenderDeps {
  store: JobStore;
  /** By client id (VF_CALLBACK_CLIENTS, parsed by parseCallbackClients). */
  clients: ReadonlyMap<string, CallbackClient>;
  metrics: Pick<WorkerMetrics, 'callbacks'>;
  logger: Logger;
  options?: CallbackSenderOptions;
  now?: () => number;
  random?: () => number;
}

export interface CallbackSender {
  start(): void;
  /** One poll: claim and send what is due now. Returns how many deliveries were attempted. */
  runOnce(): Promise<number>;
  /** Stop polling and wait for the deliveries in flight (each bounded by timeoutMs). Idempotent. */
  close(): Promise<void>;
}

/** What the receiver gets: the job as GET /jobs/{id} shows it, in a Standard Webhooks envelope. */
export function callbackBody(job: Job, nowMs: number): string {
  const data: Record<string, unknown> = {
    request_id: job.request_id,
    vendor: job.vendor,
    status: job.status,
    attempts: job.attempts,
    created_at: job.created_at.toISOString(),
    updated_at: job.updated_at.toISOString(),
  };
  if (job.result !== undefined) data['result'] = job.result;
  if (job.error !== undefined) data['error'] = job.error;
  if (job.completed_at !== undefined) data['completed_at'] = job.completed_at.toISOString();
  return JSON.stringify({ type: `job.${job.status}`, timestamp: new Date(nowMs).toISOString(), data });
}

/** Stable per job: every attempt of one job's delivery carries the same id (receivers dedupe on it). */
export const callbackMessageId = (requestId: string): string => `job_${requestId}`;

/**
 * The poll period of a worker without callback clients. No job of theirs can owe a callback
 * (the api refuses callback_url for a client it has no configuration for), so the poll only
 * dead-letters strays (a worker whose configuration lags the api's); and on a server without a
 * usable index (the FerretDB dev store) every poll is a scan of all jobs, so it stays rare.
 */
export const IDLE_POLL_MS = 60_000;

export function createCallbackSender(deps: CallbackSenderDeps): CallbackSender {
  const o = {
    pollIntervalMs: deps.clients.size > 0 ? 500 : IDLE_POLL_MS,
    batch: 50,
    concurrency: 8,
    maxAttempts: 8,
    initialBackoffMs: 1000,
    maxBackoffMs: 300_000,
    timeoutMs: 10_000,
    ...deps.options,
  };
  const now = deps.now ?? Date.now;
  const { store, logger, metrics } = deps;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<unknown> = Promise.resolve();
  let closed = false;

  async function deliver(due: { request_id: string; attempts: number }): Promise<void> {
    // The lease outlasts one POST; if we die before settling, the delivery is due again after it.
    const t = now();
    const job = await store.claimCallback(due.request_id, due.attempts, new Date(t + o.timeoutMs + 5000), new Date(t));
    if (!job?.callback || job.callback_url === undefined) return; // another sender claimed it
    const attempt = job.callback.attempts;
    const ctx = { request_id: job.request_id, vendor: job.vendor, callback_attempt: attempt };
    const client = deps.clients.get(job.client_id ?? ANONYMOUS_CLIENT);
    let result: SendResult;
    if (client === undefined) {
      // Retried, not refused: the api accepted it, so this worker's VF_CALLBACK_CLIENTS lags behind.
      result = { kind: 'retry', error: `not_configured: no callback configuration for client ${job.client_id ?? ANONYMOUS_CLIENT} on this worker` };
    } else {
      const check = checkCallbackUrl(job.callback_url, client); // the allowlist may have changed since the submit
      if (!check.ok) result = { kind: 'refused', error: `not_allowed: ${check.reason}` };
      else {
        const sentAt = now();
        const body = callbackBody(job, sentAt);
        const headers = webhookHeaders(client.secret, callbackMessageId(job.request_id), Math.floor(sentAt / 1000), body);
        result = await postCallback({ url: check.url, body, headers, client, timeoutMs: o.timeoutMs });
      }
    }
    const at = new Date(now());
    if (result.kind === 'delivered') {
      if (await store.settleCallback(job.request_id, attempt, { state: 'delivered' }, at)) metrics.callbacks.inc({ vendor: job.vendor, outcome: 'delivered' });
      logger.debug({ ...ctx, status: result.status }, 'callback delivered');
      return;
    }
    if (result.kind === 'retry' && attempt < o.maxAttempts) {
      const nextAt = new Date(at.getTime() + nextBackoff(attempt, o, deps.random));
      if (await store.settleCallback(job.request_id, attempt, { state: 'pending', error: result.error, nextAt }, at)) {
        metrics.callbacks.inc({ vendor: job.vendor, outcome: 'retry' });
      }
      logger.info({ ...ctx, error: result.error, next_at: nextAt.toISOString() }, 'callback failed; retry scheduled');
      return;
    }
    if (await store.settleCallback(job.request_id, attempt, { state: 'failed', error: result.error }, at)) {
      metrics.callbacks.inc({ vendor: job.vendor, outcome: 'dead_letter' });
      // The URL stays out of the log line: it may carry a client's tokens in its query.
      logger.warn({ ...ctx, error: result.error }, 'callback dead-lettered');
    }
  }

  async function runOnce(): Promise<number> {
    const due = await store.findDueCallbacks(new Date(now()), o.batch);
    let next = 0;
    const lane = async () => {
      while (next < due.length && !closed) {
        const d = due[next++]!;
        await deliver(d).catch((err: unknown) => logger.warn({ err, request_id: d.request_id }, 'callback delivery step failed; due again after its lease'));
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.concurrency, due.length) }, lane));
    return due.length;
  }

  return {
    start() {
      if (timer || closed) return;
      let busy = false;
      timer = setInterval(() => {
        if (busy) return; // never overlap a slow poll with the next one
        busy = true;
        polling = runOnce()
          .catch((err: unknown) => logger.warn({ err }, 'polling due callbacks failed'))
          .finally(() => (busy = false));
      }, o.pollIntervalMs);
    },
    runOnce,
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      await polling;
    },
  };
}
