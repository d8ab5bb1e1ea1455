// The opt-in result cache of a sync vendor (VendorSpec.cache): the same vendor with the same
// canonical payload within ttlSeconds completes from the cached, cleaned answer — no vendor call,
// no quota. Values live in Redis with the TTL (SET EX); they are the cleaned results, so the
// cache never holds what cleaning removed.
//
// Single flight across workers: the first worker to miss takes a lock for that cache key
// (SET NX PX, a lease) and calls the vendor; the others wait, polling for the value, and take
// over if the lock goes away without a value (its holder died, or its call failed). The lock is
// released only by its holder (compare-and-delete in Lua). A holder whose call outlives the lease
// lets a second worker call too: a duplicate call, never a wrong answer (documented trade-off).
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { canonicalJson } from '../core/canonical-json.js';
import { keys } from '../core/keys.js';
import type { VendorSpec } from '../core/vendorpool.js';

/** The cache key's hash: the payload and what shapes the cleaned answer (url, cleaning rules). */
export function cacheHash(spec: Pick<VendorSpec, 'url' | 'cleaning'>, payload: unknown): string {
  return createHash('sha256')
    .update(canonicalJson({ url: spec.url, cleaning: spec.cleaning }))
    .update('\n')
    .update(canonicalJson(payload))
    .digest('hex');
}

// KEYS[1] lock; ARGV[1] the holder's token. Returns 1 if it deleted our lock, 0 otherwise.
const RELEASE_IF_OURS = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export type CacheLookup =
  | { kind: 'hit'; result: unknown }
  /** Ours to call: put() the cleaned answer when the call succeeds, release() in any case. */
  | { kind: 'miss'; put: (result: unknown) => Promise<void>; release: () => Promise<void> }
  | { kind: 'stopped' };

export interface LookupOptions {
  /** Lock lease: longer than the quota wait and call it covers. */
  leaseMs: number;
  /** How often a waiter looks for the holder's value. Default 50 ms. */
  pollMs?: number;
  signal: AbortSignal;
}

/** A hit, or the lock to call the vendor with, waiting for another worker's call meanwhile. */
export async function lookupOrLock(redis: Redis, spec: VendorSpec, payload: unknown, o: LookupOptions): Promise<CacheLookup> {
  const ttlSeconds = spec.cache!.ttlSeconds;
  const hash = cacheHash(spec, payload);
  const entryKey = keys.cacheEntry(spec.name, hash);
  const lockKey = keys.cacheLock(spec.name, hash);
  const token = randomUUID();
  for (;;) {
    const cached = await redis.get(entryKey);
    if (cached !== null) return { kind: 'hit', result: JSON.parse(cached) as unknown };
    if ((await redis.set(lockKey, token, 'PX', o.leaseMs, 'NX')) === 'OK') {
      // The value may have landed between our GET and our SET: look once more before calling.
      const late = await redis.get(entryKey);
      if (late !== null) {
        await redis.eval(RELEASE_IF_OURS, 1, lockKey, token);
        return { kind: 'hit', result: JSON.parse(late) as unknown };
      }
      return {
        kind: 'miss',
        put: async (result) => void (await redis.set(entryKey, JSON.stringify(result ?? null), 'EX', ttlSeconds)),
        release: async () => void (await redis.eval(RELEASE_IF_OURS, 1, lockKey, token)),
      };
    }
    // Another worker is calling for this payload: wait for its value or for its lock to go.
    while (!o.signal.aborted) {
      await new Promise((r) => setTimeout(r, o.pollMs ?? 50));
      const [value, holder] = (await redis.mget(entryKey, lockKey)) as [string | null, string | null];
      if (value !== null) return { kind: 'hit', result: JSON.parse(value) as unknown };
      if (holder === null) break; // gone without a value: try to take over
    }
    if (o.signal.aborted) return { kind: 'stopped' };
  }
}
