// The load test's virtual users, as k6's ramping-vus executor runs them: VU i starts at
// ramp·i/vus, and every VU loops until ramp + duration: 70 % POST /jobs (a vendor drawn from
// the mix), 30 % GET /jobs/{id} of one of its own earlier jobs, then the think time. Requests
// in flight at the end are awaited (k6's graceful stop). One undici Pool with a keep-alive
// connection per VU, like k6's per-VU connections.
import { Pool } from 'undici';
import type { RequestKind, Sample } from './loadtest-stats.js';

export interface VendorWeight {
  vendor: string;
  weight: number;
}

export interface LoadOptions {
  /** Base URL of the api, e.g. http://127.0.0.1:8080 (a path prefix is kept). */
  target: string;
  vus: number;
  rampSeconds: number;
  durationSeconds: number;
  /** Pause after each request. Default in the CLI: 100 ms. */
  thinkMs: number;
  mix: VendorWeight[];
  /** Share of POSTs among requests once a VU has a job to read. Default 0.7. */
  postShare?: number;
  apiKey?: string | undefined;
  /** Called every `progressEverySeconds` with the running totals. */
  onProgress?: (p: { at: number; vus: number; requests: number; failed: number }) => void;
  progressEverySeconds?: number;
}

export interface LoadResult {
  samples: Sample[];
  /** Failed requests by cause: an unexpected status ("503") or a network error code. */
  failures: Record<string, number>;
  elapsedSeconds: number;
}

/** Parses "sync=7,async=3" (or "sync" alone) into weights. */
export function parseMix(text: string): VendorWeight[] {
  const mix = text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [vendor, weight = '1'] = part.split('=');
      const w = Number(weight);
      if (!vendor || !Number.isFinite(w) || w <= 0) throw new Error(`bad vendor mix entry "${part}" (expected name=weight, e.g. sync=7)`);
      return { vendor: vendor.trim(), weight: w };
    });
  if (mix.length === 0) throw new Error('the vendor mix names no vendor');
  return mix;
}

/** Draws a vendor by weight; `r` in [0, 1). */
export function pickVendor(mix: VendorWeight[], r: number): string {
  const total = mix.reduce((a, m) => a + m.weight, 0);
  let x = r * total;
  for (const m of mix) {
    x -= m.weight;
    if (x < 0) return m.vendor;
  }
  return mix[mix.length - 1]!.vendor;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const url = new URL(opts.target);
  const prefix = url.pathname.replace(/\/+$/, '');
  const pool = new Pool(url.origin, { connections: opts.vus, keepAliveTimeout: 60_000, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.apiKey) headers['authorization'] = `Bearer ${opts.apiKey}`;
  const postShare = opts.postShare ?? 0.7;

  const samples: Sample[] = [];
  const failures: Record<string, number> = {};
  const fail = (cause: string) => (failures[cause] = (failures[cause] ?? 0) + 1);
  const started = performance.now();
  const now = () => (performance.now() - started) / 1000;
  const endAt = opts.rampSeconds + opts.durationSeconds;
  let running = 0;

  async function send(kind: RequestKind, path: string, body?: string): Promise<string | undefined> {
    const at = now();
    const t0 = performance.now();
    try {
      const res = await pool.request({ path: prefix + path, method: kind === 'post' ? 'POST' : 'GET', headers, ...(body ? { body } : {}) });
      const text = await res.body.text();
      const ok = res.statusCode === (kind === 'post' ? 202 : 200);
      samples.push({ kind, ms: performance.now() - t0, ok, at });
      if (!ok) fail(String(res.statusCode));
      return ok ? text : undefined;
    } catch (err) {
      samples.push({ kind, ms: performance.now() - t0, ok: false, at });
      fail((err as { code?: string }).code ?? (err as Error).name);
      return undefined;
    }
  }

  async function vu(index: number): Promise<void> {
    await sleep((opts.rampSeconds * 1000 * index) / opts.vus);
    running += 1;
    const ids: string[] = [];
    let iteration = 0;
    while (now() < endAt) {
      if (ids.length > 0 && Math.random() >= postShare) {
        await send('get', `/jobs/${ids[Math.floor(Math.random() * ids.length)]!}`);
      } else {
        const vendor = pickVendor(opts.mix, Math.random());
        const text = await send('post', '/jobs', JSON.stringify({ vendor, payload: { company: `acme-${index}-${iteration}`, page: 1 } }));
        const id = text === undefined ? undefined : (JSON.parse(text) as { request_id?: string }).request_id;
        if (id) ids.push(id);
      }
      iteration += 1;
      if (now() + opts.thinkMs / 1000 >= endAt) break;
      await sleep(opts.thinkMs);
    }
    running -= 1;
  }

  const every = (opts.progressEverySeconds ?? 10) * 1000;
  const progress = opts.onProgress
    ? setInterval(() => opts.onProgress!({ at: now(), vus: running, requests: samples.length, failed: samples.length - samples.filter((s) => s.ok).length }), every)
    : undefined;
  try {
    await Promise.all(Array.from({ length: opts.vus }, (_, i) => vu(i)));
  } finally {
    if (progress) clearInterval(progress);
    await pool.close();
  }
  return { samples, failures, elapsedSeconds: now() };
}
