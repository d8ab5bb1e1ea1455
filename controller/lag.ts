// Stream lag per vendor, read from Redis: what the scaling rule and the status report use.
// lag = entries not yet delivered to the consumer group (XINFO GROUPS "lag", Redis ≥ 7);
// when there is no group yet (no worker ever ran) every entry in the stream is lag. A vendor's
// lag and pending are the sums over its priority lanes (one stream each).
// A paused vendor's lag is reported but not summed: workers would not serve it, so it must not
// scale them up (a pool whose vendors are all paused goes down to minReplicas).
import type { Redis } from 'ioredis';
import { keys } from '../core/keys.js';
import { streamBacklog } from '../core/queue.js';

export interface VendorLag {
  name: string;
  lag: number;
  /** Delivered to a worker, not yet acknowledged. */
  pending: number;
  /** As published by the workers; "unknown" when none did. */
  circuit: string;
  /** spec.paused: its workers call nothing, its jobs wait. */
  paused: boolean;
}

export interface PoolLag {
  /** Sum of the unpaused vendors' lag: the input of desiredReplicas. */
  total: number;
  vendors: VendorLag[];
}

export async function vendorLag(redis: Redis, vendor: string, paused = false): Promise<VendorLag> {
  // The same reading as the workers' backlog gauge and GET /vendors (core/queue.ts).
  const [backlog, circuit] = await Promise.all([streamBacklog(redis, vendor), redis.get(keys.circuit(vendor))]);
  return { name: vendor, ...backlog, circuit: circuit ?? 'unknown', paused };
}

export async function poolLag(redis: Redis, vendors: ReadonlyArray<{ name: string; paused?: boolean }>): Promise<PoolLag> {
  const list = await Promise.all(vendors.map((v) => vendorLag(redis, v.name, v.paused ?? false)));
  return { total: list.reduce((s, v) => s + (v.paused ? 0 : v.lag), 0), vendors: list };
}
