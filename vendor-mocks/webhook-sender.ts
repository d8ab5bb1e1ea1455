// Delivery of signed webhooks, the way real vendors do it: after a delay, with a bounded number
// of retries on 5xx / 408 / 429 / connection errors, and (on request) twice, late, out of
// order or never.
import http from 'node:http';
import https from 'node:https';
import { randomUUID } from 'node:crypto';
import { type WebhookKnobs, pickDelay } from './config.js';
import type { Counters } from './counters.js';
import { sleep } from './http-util.js';
import { DEFAULT_WEBHOOK_SECRET, signWebhook } from './signing.js';

export interface Delivery {
  url: string;
  /** The request's own id field name: the webhook answers with the same one. */
  idField: 'request_id' | 'job_id';
  id: string;
  data: unknown;
  /** Knobs as they were when the request was accepted. */
  knobs: WebhookKnobs;
}

export interface WebhookDispatcher {
  schedule(d: Delivery): void;
  /** Cancel timers and in-flight attempts; resolves when every delivery task has stopped. */
  close(): Promise<void>;
}

/** Key bytes no product knows: used by `wrongSignature`. */
const WRONG_SECRET = `whsec_${Buffer.from('not-the-secret-you-configured').toString('base64')}`;

type AttemptResult = { status: number } | { error: string };

export function createWebhookDispatcher(deps: { counters: Counters; random: () => number }): WebhookDispatcher {
  const c = deps.counters;
  const stop = new AbortController();
  const tasks = new Set<Promise<void>>();
  const timers = new Set<NodeJS.Timeout>();
  let batch: Delivery[] = [];
  let batchTimer: NodeJS.Timeout | undefined;

  const track = (p: Promise<void>): void => {
    tasks.add(p);
    void p.finally(() => tasks.delete(p));
  };
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  function attempt(d: Delivery, webhookId: string, body: string): Promise<AttemptResult> {
    const k = d.knobs;
    const timestamp = Math.floor(Date.now() / 1000) - (k.staleTimestamp ? k.staleBySeconds : 0);
    const secret = k.wrongSignature ? WRONG_SECRET : (k.webhookSecret ?? DEFAULT_WEBHOOK_SECRET);
    const target = new URL(d.url);
    const lib = target.protocol === 'https:' ? https : http;
    return new Promise((resolve) => {
      const req = lib.request(
        target,
        {
          method: 'POST',
          agent: false, // one connection per attempt: nothing pooled stays open after close()
          signal: stop.signal,
          timeout: k.webhookTimeoutMs,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'vendorfetch-mock-async/1',
            'webhook-id': webhookId,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signWebhook(secret, webhookId, timestamp, body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
          res.on('error', (e) => resolve({ error: e.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('webhook attempt timed out')));
      req.on('error', (e) => resolve({ error: e.message }));
      req.end(body);
    });
  }

  /** One delivery (with its retries). */
  async function deliverOnce(d: Delivery, webhookId: string, body: string): Promise<void> {
    const k = d.knobs;
    for (let n = 1; n <= k.webhookMaxAttempts && !stop.signal.aborted; n++) {
      if (n > 1) {
        c.webhookRetries++;
        await sleep(k.webhookRetryBaseMs * 2 ** (n - 2), stop.signal);
        if (stop.signal.aborted) return;
      }
      c.webhookAttempts++;
      const r = await attempt(d, webhookId, body);
      const label = 'status' in r ? String(r.status) : 'error';
      c.webhookStatuses[label] = (c.webhookStatuses[label] ?? 0) + 1;
      if ('status' in r && r.status >= 200 && r.status < 300) {
        c.webhooksSent++;
        return;
      }
      const retryable = !('status' in r) || r.status >= 500 || r.status === 408 || r.status === 429;
      if (!retryable) break;
    }
    if (!stop.signal.aborted) c.webhookFailures++;
  }

  /** A webhook: one delivery, or two with the same webhook-id when `duplicate`. */
  async function deliver(d: Delivery): Promise<void> {
    const webhookId = `msg_${randomUUID()}`;
    const body = JSON.stringify({ [d.idField]: d.id, data: d.data });
    try {
      await deliverOnce(d, webhookId, body);
      if (d.knobs.duplicate && !stop.signal.aborted) {
        await sleep(d.knobs.duplicateGapMs, stop.signal);
        if (!stop.signal.aborted) await deliverOnce(d, webhookId, body);
      }
    } finally {
      c.webhooksPending--;
    }
  }

  function flushBatch(): void {
    if (batchTimer) {
      clearTimeout(batchTimer);
      timers.delete(batchTimer);
      batchTimer = undefined;
    }
    const items = batch.reverse();
    batch = [];
    track(
      (async () => {
        // One after another, newest first, so the receiver really sees them reversed.
        for (const d of items) {
          if (stop.signal.aborted) c.webhooksPending--;
          else await deliver(d);
        }
      })(),
    );
  }

  return {
    schedule(d) {
      const k = d.knobs;
      if (k.never) {
        c.webhooksDropped++;
        return;
      }
      c.webhooksScheduled++;
      c.webhooksPending++;
      const delay = k.late ? k.lateDelayMs : pickDelay(k.delayMs, deps.random);
      if (k.outOfOrder) {
        batch.push(d);
        if (batch.length >= k.outOfOrderBatchSize) flushBatch();
        else if (!batchTimer) {
          batchTimer = setTimeout(flushBatch, delay);
          timers.add(batchTimer);
        }
        return;
      }
      later(delay, () => track(deliver(d)));
    },
    async close() {
      stop.abort();
      for (const t of timers) clearTimeout(t);
      timers.clear();
      c.webhooksPending -= batch.length;
      batch = [];
      await Promise.allSettled([...tasks]);
    },
  };
}
