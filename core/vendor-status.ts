// What an operator wants to know about each vendor right now (GET /vendors, `vendorfetch
// vendors`): quota use, breaker, stream lag, paused. Read from where each fact lives — the
// registry (config, including spec.paused), the quota gate's keys (worker/quota.ts), the circuit
// state the workers publish, the vendor's priority-lane streams (summed by streamBacklog, the
// helper behind the workers' stream_lag/stream_pending gauges, so both agree) — with one
// pipeline per vendor, and Redis' own clock for the quota window (the gate stamps its log with
// Redis time, never a process clock).
import type { Redis } from 'ioredis';
import { keys } from './keys.js';
import type { RegistryEntry } from './registry.js';
import { streamBacklog } from './queue.js';

/** The quota gate's GCRA cursor shares the window ZSET with the grants (core/scripts/quota-acquire.ts). */
const TAT_MEMBER = 'gcra:tat';

export interface VendorStatus {
  name: string;
  pool: string;
  mode: 'sync' | 'async';
  quota: {
    requests_per_second: number;
    burst: number;
    max_in_flight: number;
    /** Calls granted in the last second (the rolling window the vendor sees). */
    used_last_second: number;
    /** Calls open now (leases not yet released or expired). */
    in_flight: number;
    /** > 0 while the pool is slowed down by the vendor's 429 + Retry-After. */
    slowed_down_ms: number;
  };
  /** As the workers publish it: closed | open | half-open; `unknown` when no worker did yet. */
  breaker: string;
  /** Stream entries not yet delivered to a worker, summed over the vendor's priority lanes. */
  lag: number;
  /** Delivered, not yet acknowledged, summed over the lanes. */
  pending: number;
  /** spec.vendors[].paused as published in the registry: workers call nothing while true. */
  paused: boolean;
}

export async function vendorStatus(redis: Redis, name: string, entry: RegistryEntry): Promise<VendorStatus> {
  const replies = (await redis
    .pipeline()
    .time()
    .zscore(keys.quota(name, 'window'), TAT_MEMBER)
    .zcard(keys.quota(name, 'inflight'))
    .pttl(keys.quota(name, 'pause'))
    .get(keys.circuit(name))
    .exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  const [time, tat, inFlight, pausePttl, circuit] = replies.map(([, v]) => v) as [[string, string], string | null, number, number, string | null];
  const nowUs = Number(time[0]) * 1_000_000 + Number(time[1]);
  // Grants of the last second (scores are Redis µs), without the cursor member if it is in range.
  const recent = await redis.zcount(keys.quota(name, 'window'), `(${nowUs - 1_000_000}`, '+inf');
  const tatInRange = tat !== null && Number(tat) > nowUs - 1_000_000 ? 1 : 0;
  const openNow = inFlight === 0 ? 0 : await redis.zcount(keys.quota(name, 'inflight'), `(${nowUs}`, '+inf');
  const { lag, pending } = await streamBacklog(redis, name);
  const spec = entry.spec;
  return {
    name,
    pool: entry.pool,
    mode: spec.mode,
    quota: {
      requests_per_second: spec.quota.requestsPerSecond,
      burst: spec.quota.burst ?? spec.quota.requestsPerSecond,
      max_in_flight: spec.quota.maxInFlight,
      used_last_second: Math.max(0, recent - tatInRange),
      in_flight: openNow,
      slowed_down_ms: Math.max(0, pausePttl),
    },
    breaker: circuit ?? 'unknown',
    lag,
    pending,
    paused: spec.paused === true,
  };
}
