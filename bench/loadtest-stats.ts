// The load test's arithmetic and its k6-style summary: pure, unit-tested in loadtest.test.ts.
// Percentiles are nearest-rank on every sample (no histogram buckets): a 90 s run at 200 VUs is
// at most ~200k numbers, cheap to sort, and exact.

export type RequestKind = 'post' | 'get';

export interface Sample {
  kind: RequestKind;
  /** From sending the request to the last byte of the answer. */
  ms: number;
  /** The expected status (202 for POST /jobs, 200 for GET /jobs/{id}); network errors are false. */
  ok: boolean;
  /** Seconds since the run started, when the request was sent. */
  at: number;
}

export interface LatencyStats {
  count: number;
  avg: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

export interface Thresholds {
  /** p95 of all request durations must stay below this. Default 2000 ms. */
  p95Ms: number;
  /** Failed requests / all requests must stay below this. Default 0.01. */
  errorRate: number;
}
export const DEFAULT_THRESHOLDS: Thresholds = { p95Ms: 2000, errorRate: 0.01 };

/** Nearest-rank percentile of an ascending array (p in 0..100); NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function latencyStats(ms: number[]): LatencyStats {
  const sorted = Float64Array.from(ms).sort();
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    avg: sorted.length === 0 ? Number.NaN : sum / sorted.length,
    min: sorted.length === 0 ? Number.NaN : sorted[0]!,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
  };
}

export interface RunShape {
  vus: number;
  rampSeconds: number;
  durationSeconds: number;
  /** Wall time from the first VU's start to the last answer. */
  elapsedSeconds: number;
}

export interface Summary {
  all: LatencyStats;
  byKind: Record<RequestKind, LatencyStats>;
  failed: number;
  errorRate: number;
  /** Requests per second over the whole run (ramp included), as k6 reports http_reqs. */
  rate: number;
  /** Requests per second while all VUs ran (after the ramp). */
  fullLoadRate: number;
  checks: { name: string; value: string; pass: boolean }[];
  pass: boolean;
}

export function summarize(samples: Sample[], shape: RunShape, thresholds: Thresholds = DEFAULT_THRESHOLDS): Summary {
  const all = latencyStats(samples.map((s) => s.ms));
  const byKind = {
    post: latencyStats(samples.filter((s) => s.kind === 'post').map((s) => s.ms)),
    get: latencyStats(samples.filter((s) => s.kind === 'get').map((s) => s.ms)),
  };
  const failed = samples.filter((s) => !s.ok).length;
  const errorRate = samples.length === 0 ? 1 : failed / samples.length;
  const plateau = samples.filter((s) => s.at >= shape.rampSeconds && s.at < shape.rampSeconds + shape.durationSeconds).length;
  // No samples at all is a failure, not a vacuous pass.
  const checks = [
    { name: `http_req_duration p(95)<${thresholds.p95Ms}`, value: `p(95)=${ms(all.p95)}`, pass: all.count > 0 && all.p95 < thresholds.p95Ms },
    { name: `http_req_failed rate<${thresholds.errorRate}`, value: `rate=${pct(errorRate)}`, pass: samples.length > 0 && errorRate < thresholds.errorRate },
  ];
  return {
    all,
    byKind,
    failed,
    errorRate,
    rate: shape.elapsedSeconds > 0 ? samples.length / shape.elapsedSeconds : 0,
    fullLoadRate: shape.durationSeconds > 0 ? plateau / shape.durationSeconds : 0,
    checks,
    pass: checks.every((c) => c.pass),
  };
}

const ms = (v: number) => (Number.isNaN(v) ? '-' : v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v.toFixed(2)}ms`);
const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const dots = (label: string, width = 34) => `${label}${'.'.repeat(Math.max(2, width - label.length))}:`;
const durations = (s: LatencyStats) =>
  `avg=${ms(s.avg)} min=${ms(s.min)} med=${ms(s.p50)} max=${ms(s.max)} p(90)=${ms(s.p90)} p(95)=${ms(s.p95)} p(99)=${ms(s.p99)}`;

/** The summary as k6 prints it (thresholds first, then the metrics). */
export function formatSummary(sum: Summary, shape: RunShape, target: string): string {
  const lines = [
    `  scenario: up to ${shape.vus} looping VUs, ramp ${shape.rampSeconds}s then ${shape.durationSeconds}s at full load; 70% POST /jobs, 30% GET /jobs/{id}, 100 ms think time`,
    `  target:   ${target}`,
    '',
    '  THRESHOLDS',
    ...sum.checks.map((c) => `    ${c.pass ? '✓' : '✗'} '${c.name}' ${c.value}`),
    '',
    `    ${dots('http_req_duration')} ${durations(sum.all)}`,
    `      ${dots('{ name:POST /jobs }', 32)} ${durations(sum.byKind.post)}`,
    `      ${dots('{ name:GET /jobs/{id} }', 32)} ${durations(sum.byKind.get)}`,
    `    ${dots('http_req_failed')} ${pct(sum.errorRate)}  ${sum.failed} out of ${sum.all.count}`,
    `    ${dots('http_reqs')} ${sum.all.count}  ${sum.rate.toFixed(1)}/s`,
    `      ${dots('{ name:POST /jobs }', 32)} ${sum.byKind.post.count}`,
    `      ${dots('{ name:GET /jobs/{id} }', 32)} ${sum.byKind.get.count}`,
    `    ${dots('http_reqs at full load')} ${sum.fullLoadRate.toFixed(1)}/s`,
    `    ${dots('vus_max')} ${shape.vus}`,
    `    ${dots('duration')} ${shape.elapsedSeconds.toFixed(1)}s`,
    '',
    sum.pass ? '  all thresholds passed' : '  THRESHOLDS FAILED',
  ];
  return lines.join('\n');
}
