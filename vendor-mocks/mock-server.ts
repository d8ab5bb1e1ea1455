// The HTTP server both mocks share: POST /fetch goes through the vendor's gauntlet (limits,
// throttles, latency, injected failures) and the mock-specific `answer` handles what is left;
// GET /_counters, GET|POST /_config, POST /_reset and GET /healthz are the test hooks.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type FetchKnobs, pickDelay } from './config.js';
import { type Counters, emptyCounters, MAX_TRACKED_KEYS } from './counters.js';
import { BadRequest, readJson, requestKey, sendJson, sendProblem, sleep } from './http-util.js';
import { createRollingWindow } from './rolling-window.js';

/** Options every mock factory accepts besides its knobs. */
export interface MockRuntimeOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (an ephemeral port). */
  port?: number;
  /** Clock for the rate limit and rate meter, epoch ms (fractional). Default performance-based. */
  now?: () => number;
  /** Source of randomness (0..1) for errorRate, throttleRate and delay ranges. Default Math.random. */
  random?: () => number;
}

/** What a running mock gives back to its starter. */
export interface RunningMock<K> {
  url: string;
  port: number;
  /** The URL to configure as the vendor's `url`: `${url}/fetch`. */
  fetchUrl: string;
  counters(opts?: { perKey?: boolean }): Counters;
  reset(opts?: { knobs?: boolean }): void;
  /** Merge a partial knob update; throws on invalid knobs (POST /_config answers 400 instead). */
  configure(update: Partial<K>): K;
  knobs(): K;
  /** Stop listening, drop open connections (hanging calls too) and cancel pending work. Idempotent. */
  close(): Promise<void>;
}

export type Prepared<C> = { ok: true; ctx: C } | { ok: false; errors: { field: string; message: string }[] };

export interface MockServerSpec<K extends FetchKnobs, C> {
  kind: 'sync' | 'async';
  initialKnobs: K;
  merge(current: K, update: unknown): { ok: true; knobs: K } | { ok: false; errors: { field: string; message: string }[] };
  /** Validate a /fetch body before it is counted as served (async: needs an id and a callback). */
  prepare(body: unknown, knobs: K, req: IncomingMessage): Prepared<C>;
  /** Answer an admitted call that passed every failure knob. */
  answer(args: { body: unknown; key: string; ctx: C; knobs: K; res: ServerResponse }): void;
  /** Knobs as shown by GET /_config (hide secrets). */
  showKnobs?(knobs: K): unknown;
  counters: Counters;
  onReset?(): void;
  onClose?(): Promise<void>;
}

const defaultNow = (): number => performance.timeOrigin + performance.now();

export async function startMockServer<K extends FetchKnobs, C>(
  spec: MockServerSpec<K, C>,
  opts: MockRuntimeOptions,
): Promise<RunningMock<K>> {
  const now = opts.now ?? defaultNow;
  const random = opts.random ?? Math.random;
  const initialKnobs = spec.initialKnobs;
  let knobs = initialKnobs;
  let throttleLeft = knobs.throttleNext;
  const c = spec.counters;
  const window = createRollingWindow(1000);
  const perKey = new Map<string, number>();
  let servedCalls = 0;
  const shutdown = new AbortController();

  const snapshot = (withPerKey = true): Counters => {
    const out: Counters = { ...c, webhookStatuses: { ...c.webhookStatuses } };
    out.maxRateInAnyRollingSecond = window.maxInAnyWindow;
    out.currentRate = window.countAt(now());
    if (withPerKey) out.perKey = Object.fromEntries(perKey);
    else delete out.perKey;
    return out;
  };

  const reset = (o: { knobs?: boolean } = {}): void => {
    Object.assign(c, emptyCounters(), { inFlight: c.inFlight, webhooksPending: c.webhooksPending });
    c.maxInFlight = c.inFlight;
    window.reset();
    perKey.clear();
    servedCalls = 0;
    if (o.knobs) knobs = initialKnobs;
    throttleLeft = knobs.throttleNext;
    spec.onReset?.();
  };

  const applyConfig = (update: unknown): ReturnType<MockServerSpec<K, C>['merge']> => {
    const r = spec.merge(knobs, update);
    if (r.ok) {
      const touchedThrottle = typeof update === 'object' && update !== null && 'throttleNext' in update;
      knobs = r.knobs;
      if (touchedThrottle) throttleLeft = knobs.throttleNext;
    }
    return r;
  };

  const countKey = (key: string): number => {
    const prev = perKey.get(key);
    if (prev === undefined) {
      if (perKey.size >= MAX_TRACKED_KEYS) return 1;
      perKey.set(key, 1);
      c.distinctKeys++;
      return 1;
    }
    if (prev === 1) c.duplicateKeys++;
    perKey.set(key, prev + 1);
    return prev + 1;
  };

  async function handleFetch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    c.requests++;
    c.inFlight++;
    if (c.inFlight > c.maxInFlight) c.maxInFlight = c.inFlight;
    res.once('close', () => c.inFlight--);
    const arrivedAt = now();
    const k = knobs; // one request sees one consistent set of knobs

    let body: unknown;
    try {
      body = await readJson(req);
    } catch (e) {
      c.badRequests++;
      if (e instanceof BadRequest) return sendProblem(res, e.status, e.title);
      throw e;
    }
    const prepared = spec.prepare(body, k, req);
    if (!prepared.ok) {
      c.badRequests++;
      return sendProblem(res, 400, 'invalid request', { errors: prepared.errors });
    }

    if (k.concurrencyLimit !== null && c.inFlight > k.concurrencyLimit) {
      c.concurrencyViolations++;
      return sendProblem(res, 429, 'too many concurrent requests', {}, { 'retry-after': '1' });
    }
    // A vendor asking to slow down: not a violation, and not served.
    if (throttleLeft > 0 || (k.throttleRate > 0 && random() < k.throttleRate)) {
      if (throttleLeft > 0) throttleLeft--;
      c.throttled++;
      return sendProblem(res, 429, 'slow down', {}, { 'retry-after': String(k.retryAfterSeconds) });
    }
    const admission = window.admit(arrivedAt, k.limitPerSecond);
    if (!admission.ok) {
      c.violations++;
      const seconds = Math.max(1, Math.ceil(admission.retryAfterMs / 1000));
      return sendProblem(
        res,
        429,
        'rate limit exceeded',
        { detail: `more than ${k.limitPerSecond} calls in a rolling second` },
        { 'retry-after': String(seconds) },
      );
    }

    c.served++;
    servedCalls++;
    const wall = Date.now();
    c.firstServedAt ??= wall;
    c.lastServedAt = wall;
    const key = requestKey(body, req.headers);
    const callOfKey = countKey(key);
    const callNumber = servedCalls;

    if (k.hang) {
      c.hung++;
      return; // never answered; the socket closes when the client or close() gives up
    }
    await sleep(pickDelay(k.latencyMs, random), shutdown.signal);
    if (res.destroyed) return;

    const failing = k.failFirstPer === 'key' ? callOfKey <= k.failFirst : callNumber <= k.failFirst;
    if (failing || (k.errorRate > 0 && random() < k.errorRate)) {
      c.errors++;
      return sendProblem(res, k.errorStatus, 'injected failure', {
        detail: failing ? `failFirst: call ${k.failFirstPer === 'key' ? callOfKey : callNumber} of ${k.failFirst}` : 'errorRate',
      });
    }
    c.ok++;
    spec.answer({ body, key, ctx: prepared.ctx, knobs: k, res });
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://mock');
    const path = url.pathname;
    if (path === '/fetch' || path.startsWith('/fetch/')) {
      if (req.method !== 'POST') return sendProblem(res, 405, 'use POST', {}, { allow: 'POST' });
      return handleFetch(req, res);
    }
    if (path === '/_counters' && req.method === 'GET') {
      return sendJson(res, 200, snapshot(url.searchParams.get('perKey') !== 'false'));
    }
    if (path === '/_config' && req.method === 'GET') return sendJson(res, 200, spec.showKnobs?.(knobs) ?? knobs);
    if (path === '/_config' && req.method === 'POST') {
      let update: unknown;
      try {
        update = await readJson(req);
      } catch (e) {
        if (e instanceof BadRequest) return sendProblem(res, e.status, e.title);
        throw e;
      }
      const r = applyConfig(update);
      if (!r.ok) return sendProblem(res, 400, 'invalid knobs', { errors: r.errors });
      return sendJson(res, 200, spec.showKnobs?.(knobs) ?? knobs);
    }
    if (path === '/_reset' && req.method === 'POST') {
      let body: unknown;
      try {
        body = await readJson(req);
      } catch (e) {
        if (e instanceof BadRequest) return sendProblem(res, e.status, e.title);
        throw e;
      }
      const withKnobs = typeof body === 'object' && body !== null && (body as { knobs?: unknown }).knobs === true;
      reset({ knobs: withKnobs });
      return sendJson(res, 200, snapshot());
    }
    if (path === '/healthz' && req.method === 'GET') return sendJson(res, 200, { status: 'ok', kind: spec.kind });
    if (['/_counters', '/_config', '/_reset', '/healthz'].includes(path)) return sendProblem(res, 405, 'method not allowed');
    return sendProblem(res, 404, 'not found', { detail: `${req.method} ${path}` });
  }

  const server = http.createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      sendProblem(res, 500, 'mock internal error', { detail: err instanceof Error ? err.message : String(err) });
    });
  });
  // Benchmarks hammer the mock over keep-alive connections; don't let them time out under load.
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host === undefined || opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    fetchUrl: `${url}/fetch`,
    counters: (o) => snapshot(o?.perKey ?? true),
    reset,
    configure(update) {
      const r = applyConfig(update);
      if (!r.ok) throw new Error(`invalid knobs: ${r.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
      return r.knobs;
    },
    knobs: () => knobs,
    close() {
      closing ??= (async () => {
        shutdown.abort();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await spec.onClose?.();
        await closed;
      })();
      return closing;
    },
  };
}
