// Stream lag per vendor, read from Redis: what the scaling rule and the status report use.
// lag = entries not yet delivered to the consumer group (XINFO GROUPS "lag", Redis ≥ 7);
// when there is no group yet (no worker ever ran) every entry in the stream is lag. A vendor's
// lag and pending are the sums over its priority lanes (one stream each).
// A paused vendor's lag is reported but not summed: workers would not serve it, so it must not
// scale them up (a pool whose vendors are all paused goes down to minReplicas).
import type { Redis } from 'ioredis';
import { keys } from '../core/keys.js';
import { LANES } from '../core/queue.js';

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

function field(info: unknown[], name: string): unknown {
  for (let i = 0; i + 1 < info.length; i += 2) if (info[i] === name) return info[i + 1];
  return undefined;
}

export async function vendorLag(redis: Redis, vendor: string, paused = false): Promise<VendorLag> {
  const [lanes, circuit] = await Promise.all([Promise.all(LANES.map((lane) => laneLag(redis, keys.stream(vendor, lane)))), redis.get(keys.circuit(vendor))]);
  return {
    name: vendor,
    lag: lanes.reduce((n, l) => n + l.lag, 0),
    pending: lanes.reduce((n, l) => n + l.pending, 0),
    circuit: circuit ?? 'unknown',
    paused,
  };
}

async function laneLag(redis: Redis, stream: string): Promise<{ lag: number; pending: number }> {
  const [groups, length] = await Promise.all([
    redis.call('XINFO', 'GROUPS', stream).catch(() => [] as unknown[]) as Promise<unknown[]>,
    redis.xlen(stream),
  ]);
  const group = (groups as unknown[][]).find((g) => field(g, 'name') === keys.group);
  let lag = length;
  let pending = 0;
  if (group) {
    pending = Number(field(group, 'pending') ?? 0);
    const reported = field(group, 'lag');
    // Redis reports nil lag when it cannot tell (after XDEL/XTRIM past the group's position).
    lag = typeof reported === 'number' ? reported : Math.max(0, length - pending);
  }
  return { lag, pending };
}

export async function poolLag(redis: Redis, vendors: ReadonlyArray<{ name: string; paused?: boolean }>): Promise<PoolLag> {
  const list = await Promise.all(vendors.map((v) => vendorLag(redis, v.name, v.paused ?? false)));
  return { total: list.reduce((s, v) => s + (v.paused ? 0 : v.lag), 0), vendors: list };
}
