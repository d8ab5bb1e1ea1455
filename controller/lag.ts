// Stream lag per vendor, read from Redis: what the scaling rule and the status report use.
// lag = entries not yet delivered to the consumer group (XINFO GROUPS "lag", Redis ≥ 7);
// when there is no group yet (no worker ever ran) every entry in the stream is lag.
import type { Redis } from 'ioredis';
import { keys } from '../core/keys.js';

export interface VendorLag {
  name: string;
  lag: number;
  /** Delivered to a worker, not yet acknowledged. */
  pending: number;
  /** As published by the workers; "unknown" when none did. */
  circuit: string;
}

export interface PoolLag {
  /** Sum of the vendors' lag: the input of desiredReplicas. */
  total: number;
  vendors: VendorLag[];
}

function field(info: unknown[], name: string): unknown {
  for (let i = 0; i + 1 < info.length; i += 2) if (info[i] === name) return info[i + 1];
  return undefined;
}

export async function vendorLag(redis: Redis, vendor: string): Promise<VendorLag> {
  const stream = keys.stream(vendor);
  const [groups, length, circuit] = await Promise.all([
    redis.call('XINFO', 'GROUPS', stream).catch(() => [] as unknown[]) as Promise<unknown[]>,
    redis.xlen(stream),
    redis.get(keys.circuit(vendor)),
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
  return { name: vendor, lag, pending, circuit: circuit ?? 'unknown' };
}

export async function poolLag(redis: Redis, vendors: readonly string[]): Promise<PoolLag> {
  const list = await Promise.all(vendors.map((v) => vendorLag(redis, v)));
  return { total: list.reduce((s, v) => s + v.lag, 0), vendors: list };
}
