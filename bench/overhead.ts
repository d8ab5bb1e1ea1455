// Benchmark (c): what vendorfetch adds to a job's latency (issue 14, item 2). A mock vendor
// answers after a fixed 50 ms; jobs arrive evenly spaced at 10 %, 50 % and 90 % of its quota
// (100 calls/s, low enough that even at 90 % the machine is not what saturates), one worker at
// its default concurrency (20), the api and the worker sharing one SQLite file (local mode).
//   sync:  completed_at − created_at − 50 ms, both stamped by vendorfetch (api, then worker);
//   async: webhook arrives → GET /jobs/<id> shows complete (bench/webhook-relay.ts).
// Beside each, the floor from the same run at the same rate: a plain loop calling the same
// mock directly (sync), and the same webhooks relayed to a bare node:http receiver (async).
// Everything runs on 127.0.0.1 as real processes started from dist/.
// Alone: `node dist/bench/overhead.js` (BENCH_OVERHEAD_SECONDS shortens the 30 s phases).
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { request } from 'undici';
import type { JobStore } from '../core/job.js';
import { VendorRegistry } from '../core/registry.js';
import { createJobStore } from '../core/store/index.js';
import { vendorSpecSchema } from '../core/vendorpool.js';
import { freePort } from '../testing/ports.js';
import { startProgram, type RunningProgram } from '../testing/programs.js';
import { startRedis } from '../testing/redis-server.js';
import { round, sleep } from './support.js';
import { startWebhookRelay, type WebhookRelay } from './webhook-relay.js';

export const VENDOR_LATENCY_MS = 50;
/** Shares of the quota the jobs arrive at. */
export const LOADS = [0.1, 0.5, 0.9] as const;

export interface OverheadOptions {
  /** Seconds each measured phase sends jobs. The figure: 30. */
  seconds: number;
  /** Seconds of each floor phase (the floor varies little). Default min(10, seconds). */
  floorSeconds?: number;
  /** The mock vendors' quota (requests per second). Default 100. */
  quota?: number;
}

export interface Percentiles {
  n: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface OverheadRow {
  kind: 'sync' | 'async';
  /** Share of the quota. */
  load: number;
  jobs_per_s: number;
  vendorfetch: Percentiles;
  floor: Percentiles;
  /** Jobs sent but not measured: refused, failed, or not complete in time. */
  lost: number;
  /** Where the worker's time went, means over the phase from its /metrics (ms). */
  worker: StageMeans;
}

export interface StageMeans {
  /** store.startAttempt + waiting for the quota gate (vendorfetch_quota_wait_seconds). */
  quota_wait_ms: number;
  /** The vendor call, 50 ms of it the mock's (vendorfetch_vendor_call_duration_seconds). */
  vendor_call_ms: number;
}

/** Nearest-rank percentiles (ms, 0.1 ms). */
export function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length === 0 ? NaN : round(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!));
  return { n: sorted.length, p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/** Call `send` `rate` times a second for `seconds`, evenly spaced (late ticks catch up); resolves when every send has settled. */
async function atRate(rate: number, seconds: number, send: () => Promise<void>): Promise<void> {
  const sends: Promise<void>[] = [];
  const t0 = performance.now();
  const n = Math.round(rate * seconds);
  for (let i = 0; i < n; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    sends.push(send());
  }
  await Promise.allSettled(sends);
}

const PAYLOAD = { query: 'acme corp', page: 1, filters: ['a', 'b'] };
// undici's request rather than fetch: the bench shares the two cores with what it measures, and
// fetch costs it several times the CPU per call.
const postJson = (url: string, body: unknown) =>
  request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** POST /jobs at `rate`; the request_ids of the jobs accepted, and how many were refused. */
async function submitAtRate(apiUrl: string, vendor: string, rate: number, seconds: number): Promise<{ ids: string[]; refused: number }> {
  const ids: string[] = [];
  let refused = 0;
  await atRate(rate, seconds, async () => {
    const res = await postJson(`${apiUrl}/jobs`, { vendor, payload: PAYLOAD }).catch(() => undefined);
    if (res?.statusCode === 202) ids.push(((await res.body.json()) as { request_id: string }).request_id);
    else {
      await res?.body.dump();
      refused++;
    }
  });
  return { ids, refused };
}

/** Wait until the jobs are finished; completed_at − created_at − vendor latency of the complete ones. */
async function syncOverheads(store: JobStore, ids: string[], timeoutMs = 60_000): Promise<{ samples: number[]; lost: number }> {
  const samples: number[] = [];
  let waiting = ids;
  let lost = 0;
  const deadline = Date.now() + timeoutMs;
  while (waiting.length > 0 && Date.now() < deadline) {
    const still: string[] = [];
    for (const id of waiting) {
      const job = await store.get(id);
      if (job?.status === 'complete' && job.completed_at) samples.push(job.completed_at.getTime() - job.created_at.getTime() - VENDOR_LATENCY_MS);
      else if (job?.status === 'failed') lost++;
      else still.push(id);
    }
    waiting = still;
    if (waiting.length > 0) await sleep(200);
  }
  return { samples, lost: lost + waiting.length };
}

/** Wait until the relay has seen `expected` webhooks (or 30 s passed); its samples. */
async function relayed(relay: WebhookRelay, expected: number, failuresBefore: number): Promise<{ samples: number[]; lost: number }> {
  const samples: number[] = [];
  const deadline = Date.now() + 30_000;
  while (samples.length + relay.failures - failuresBefore < expected && Date.now() < deadline) {
    samples.push(...relay.take());
    await sleep(100);
  }
  samples.push(...relay.take());
  return { samples, lost: expected - samples.length };
}

/** Sum and count of one of the worker's histograms, over every series of `vendor`. */
async function histogramTotals(metricsUrl: string, name: string, vendor: string): Promise<{ sum: number; count: number }> {
  const text = await (await request(metricsUrl)).body.text();
  const totals = { sum: 0, count: 0 };
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m?.[2]?.includes(`vendor="${vendor}"`)) continue;
    if (m[1] === `${name}_sum`) totals.sum += Number(m[3]);
    else if (m[1] === `${name}_count`) totals.count += Number(m[3]);
  }
  return totals;
}

/** Reads the worker's stage histograms now; the returned function gives the means since. */
async function stagesSince(metricsUrl: string, vendor: string): Promise<() => Promise<StageMeans>> {
  const names = ['vendorfetch_quota_wait_seconds', 'vendorfetch_vendor_call_duration_seconds'] as const;
  const before = await Promise.all(names.map((n) => histogramTotals(metricsUrl, n, vendor)));
  return async () => {
    const after = await Promise.all(names.map((n) => histogramTotals(metricsUrl, n, vendor)));
    const mean = (i: number) => {
      const [a, b] = [before[i]!, after[i]!];
      return b.count > a.count ? round(((b.sum - a.sum) / (b.count - a.count)) * 1000) : NaN;
    };
    return { quota_wait_ms: mean(0), vendor_call_ms: mean(1) };
  };
}

interface Running {
  workerMetricsUrl: string;
  apiUrl: string;
  bareUrl: string;
  syncMockUrl: string;
  asyncMockUrl: string;
  store: JobStore;
  relay: WebhookRelay;
}

async function syncRow(s: Running, load: number, rate: number, seconds: number, floorSeconds: number): Promise<OverheadRow> {
  const floor: number[] = [];
  await atRate(rate, floorSeconds, async () => {
    const t0 = performance.now();
    const res = await postJson(s.syncMockUrl, { request_id: randomUUID(), payload: PAYLOAD });
    await res.body.dump();
    if (res.statusCode === 200) floor.push(performance.now() - t0 - VENDOR_LATENCY_MS);
  });
  const stages = await stagesSince(s.workerMetricsUrl, 'ovh-sync');
  const sent = await submitAtRate(s.apiUrl, 'ovh-sync', rate, seconds);
  const ours = await syncOverheads(s.store, sent.ids);
  return { kind: 'sync', load, jobs_per_s: rate, vendorfetch: percentiles(ours.samples), floor: percentiles(floor), lost: sent.refused + ours.lost, worker: await stages() };
}

async function asyncRow(s: Running, load: number, rate: number, seconds: number, floorSeconds: number): Promise<OverheadRow> {
  s.relay.target = s.bareUrl;
  let failures = s.relay.failures;
  let accepted = 0;
  await atRate(rate, floorSeconds, async () => {
    const res = await postJson(s.asyncMockUrl, { request_id: randomUUID(), payload: PAYLOAD, callback_url: `${s.relay.url}/vendor-webhook/floor` });
    await res.body.dump();
    if (res.statusCode === 202) accepted++;
  });
  const floor = await relayed(s.relay, accepted, failures);

  s.relay.target = s.apiUrl;
  failures = s.relay.failures;
  const stages = await stagesSince(s.workerMetricsUrl, 'ovh-async');
  const sent = await submitAtRate(s.apiUrl, 'ovh-async', rate, seconds);
  const ours = await relayed(s.relay, sent.ids.length, failures);
  return {
    kind: 'async',
    load,
    jobs_per_s: rate,
    vendorfetch: percentiles(ours.samples),
    floor: percentiles(floor.samples),
    lost: sent.refused + ours.lost,
    worker: await stages(),
  };
}

export async function benchOverhead(redisUrl: string, opts: OverheadOptions): Promise<OverheadRow[]> {
  const quota = opts.quota ?? 100;
  const floorSeconds = opts.floorSeconds ?? Math.min(10, opts.seconds);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-bench-overhead-'));
  const sqlitePath = path.join(dir, 'jobs.db');
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const redis = new Redis(redisUrl);
  const programs: RunningProgram[] = [];
  const relay = await startWebhookRelay();
  const store = await createJobStore({ sqlitePath });
  const start = async (...args: Parameters<typeof startProgram>) => {
    const p = await startProgram(...args);
    programs.push(p);
  };
  try {
    const [syncPort, asyncPort, apiPort, apiMetricsPort, workerMetricsPort, barePort] = [
      await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort(),
    ];
    await start(
      'mocks',
      'dist/vendor-mocks/main.js',
      {
        SYNC_MOCK_PORT: String(syncPort),
        ASYNC_MOCK_PORT: String(asyncPort),
        SYNC_MOCK_KNOBS: JSON.stringify({ latencyMs: VENDOR_LATENCY_MS }),
        // The async vendor accepts at once and delivers its answer 50 ms later.
        ASYNC_MOCK_KNOBS: JSON.stringify({ delayMs: VENDOR_LATENCY_MS }),
        ASYNC_MOCK_WEBHOOK_SECRET: secret,
        LOG_LEVEL: 'warn',
      },
      { waitPort: asyncPort },
    );
    const syncMockUrl = `http://127.0.0.1:${syncPort}/fetch`;
    const asyncMockUrl = `http://127.0.0.1:${asyncPort}/fetch`;
    await new VendorRegistry(redis).publish('local/overhead', [
      vendorSpecSchema.parse({ name: 'ovh-sync', url: syncMockUrl, quota: { requestsPerSecond: quota } }),
      vendorSpecSchema.parse({
        name: 'ovh-async',
        mode: 'async',
        url: asyncMockUrl,
        callbackTimeoutSeconds: 60,
        webhookSecretRef: { name: 'ovh-webhook', key: 'secret' },
        quota: { requestsPerSecond: quota },
      }),
    ]);
    const common = { REDIS_URL: redisUrl, VF_SQLITE_PATH: sqlitePath, LOG_LEVEL: 'warn' };
    await start('api', 'dist/api/main.js', { ...common, PORT: String(apiPort), API_METRICS_PORT: String(apiMetricsPort), VF_SECRET_OVH_WEBHOOK_SECRET: secret }, { waitPort: apiPort });
    await start(
      'worker',
      'dist/worker/main.js',
      { ...common, VF_POOL: 'local/overhead', WORKER_METRICS_PORT: String(workerMetricsPort), VF_WEBHOOK_BASE_URL: relay.url },
      { waitPort: workerMetricsPort },
    );
    await start('bare-http', 'dist/bench/baselines/bare-http.js', { PORT: String(barePort) }, { waitPort: barePort });
    const running: Running = {
      workerMetricsUrl: `http://127.0.0.1:${workerMetricsPort}/metrics`,
      apiUrl: `http://127.0.0.1:${apiPort}`,
      bareUrl: `http://127.0.0.1:${barePort}`,
      syncMockUrl,
      asyncMockUrl,
      store,
      relay,
    };

    // Warm every path (JIT, connections, SQLite pages) at half the quota before any phase counts.
    await syncRow(running, 0.5, quota / 2, 3, 2);
    await asyncRow(running, 0.5, quota / 2, 3, 2);
    const rows: OverheadRow[] = [];
    for (const load of LOADS) rows.push(await syncRow(running, load, quota * load, opts.seconds, floorSeconds));
    for (const load of LOADS) rows.push(await asyncRow(running, load, quota * load, opts.seconds, floorSeconds));
    return rows;
  } finally {
    for (const p of programs.reverse()) await p.stop();
    await relay.close();
    await store.close();
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
}

const triple = (p: Percentiles) => `${p.p50} / ${p.p95} / ${p.p99}`;

export function printOverhead(rows: OverheadRow[]): void {
  console.table(
    rows.map((r) => ({
      kind: r.kind,
      load: `${Math.round(r.load * 100)} % of quota`,
      'jobs/s': r.jobs_per_s,
      'vendorfetch p50 / p95 / p99 ms': triple(r.vendorfetch),
      'floor p50 / p95 / p99 ms': triple(r.floor),
      target: 'p50 ≤ 5, p99 ≤ 25',
      'jobs measured': r.vendorfetch.n,
      lost: r.lost,
      'worker: quota wait / call ms (means)': `${r.worker.quota_wait_ms} / ${r.worker.vendor_call_ms}`,
    })),
  );
}

// Run alone: a private Redis, then the full table.
if (process.argv[1]?.endsWith(path.join('bench', 'overhead.js'))) {
  const seconds = Number(process.env.BENCH_OVERHEAD_SECONDS ?? 30);
  const redis = await startRedis();
  try {
    console.log(`overhead: 50 ms vendor, jobs at 10 / 50 / 90 % of its quota, ${seconds} s each, sync then async…`);
    printOverhead(await benchOverhead(redis.url, { seconds }));
  } finally {
    await redis.stop();
  }
}
