// The api's Prometheus metrics, on a registry of its own (no prom-client globals, so tests can
// build several apps in one process).
import type { RequestHandler } from 'express';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type WebhookResult =
  | 'completed'
  | 'duplicate'
  | 'ignored'
  | 'bad_signature'
  | 'stale'
  | 'unknown_vendor'
  | 'invalid'
  | 'unknown_job'
  | 'wrong_vendor'
  | 'error';

export interface ApiMetrics {
  registry: Registry;
  jobsSubmitted: Counter<'vendor'>;
  /** Jobs a client cancelled (POST /jobs/{id}/cancel that made the change). */
  jobsCancelled: Counter<'vendor'>;
  /** Failed jobs returned to pending by an operator (POST /vendors/{vendor}/dead-letters/replay). */
  deadLettersReplayed: Counter<'vendor'>;
  httpRequests: Counter<'method' | 'route' | 'code'>;
  httpDuration: Histogram<'method' | 'route' | 'code'>;
  webhooks: Counter<'vendor' | 'result'>;
}

/**
 * `processMetrics`: also the process' CPU, memory and event-loop metrics (main.ts turns it on),
 * under their standard unprefixed names (process_*, nodejs_*) so stock dashboards work; the
 * scrape's job/pod labels tell the programs apart.
 */
export function createApiMetrics(opts: { processMetrics?: boolean } = {}): ApiMetrics {
  const registry = new Registry();
  if (opts.processMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    jobsSubmitted: new Counter({
      name: 'vendorfetch_jobs_submitted_total',
      help: 'Jobs accepted by POST /jobs (stored and queued), by vendor.',
      labelNames: ['vendor'],
      registers: [registry],
    }),
    jobsCancelled: new Counter({
      name: 'vendorfetch_jobs_cancelled_total',
      help: 'Jobs cancelled by their client (pending or processing → cancelled), by vendor.',
      labelNames: ['vendor'],
      registers: [registry],
    }),
    deadLettersReplayed: new Counter({
      name: 'vendorfetch_dead_letters_replayed_total',
      help: 'Failed jobs returned to pending and queued again by a dead-letter replay, by vendor.',
      labelNames: ['vendor'],
      registers: [registry],
    }),
    httpRequests: new Counter({
      name: 'vendorfetch_http_requests_total',
      help: 'HTTP requests answered by the api, by route template and status code.',
      labelNames: ['method', 'route', 'code'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'vendorfetch_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route template and status code.',
      labelNames: ['method', 'route', 'code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    webhooks: new Counter({
      name: 'vendorfetch_webhooks_total',
      help: 'Vendor webhooks received, by vendor and outcome.',
      labelNames: ['vendor', 'result'],
      registers: [registry],
    }),
  };
}

/**
 * Counts and times every request. The route label is express' route template
 * (`/jobs/:id`), never the raw path, so ids cannot blow up the label cardinality.
 */
export function httpMetrics(m: ApiMetrics): RequestHandler {
  // Label children cached per (method, route, code): prom-client otherwise hashes the label
  // object on every observation, and this runs on every request of the benchmarked path.
  // Bounded: methods are the parser's known verbs, routes are templates, codes are few.
  const children = new Map<string, { inc: () => void; observe: (v: number) => void }>();
  const childFor = (method: string, route: string, code: string) => {
    const key = `${method} ${route} ${code}`;
    let child = children.get(key);
    if (!child) {
      const counter = m.httpRequests.labels(method, route, code);
      const histogram = m.httpDuration.labels(method, route, code);
      child = { inc: () => counter.inc(), observe: (v) => histogram.observe(v) };
      children.set(key, child);
    }
    return child;
  };
  return (req, res, next) => {
    const start = performance.now();
    res.once('finish', () => {
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      const child = childFor(req.method, route, String(res.statusCode));
      child.inc();
      child.observe((performance.now() - start) / 1000);
    });
    next();
  };
}
