// Redis connections as the api needs them.
import { Redis } from 'ioredis';

/**
 * The command connection. Fails fast while disconnected (no offline queue, one retry, a
 * command timeout): during an outage POST /jobs must answer 503 at once rather than hold
 * requests — and their clients — until Redis returns. Resolves once connected.
 */
export async function createApiRedis(url: string, opts: { commandTimeoutMs?: number } = {}): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: opts.commandTimeoutMs ?? 5000,
    // The XADDs of the POSTs one store commit answers are issued in the same turn: sent as one
    // pipeline (one socket write) instead of one write each (issue 14's ingest profile).
    enableAutoPipelining: true,
    // Reconnect forever with a capped delay; the api stays up and /readyz tells the truth.
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redis.on('error', () => {}); // reported through /readyz and 503s, not as unhandled events
  await redis.connect();
  return redis;
}

/** A dedicated connection for the registry's pub/sub (it enters subscriber mode). */
export async function createSubscriberRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, retryStrategy: (times) => Math.min(times * 200, 2000) });
  // Silent on purpose: it reconnects by itself, the registry's poll covers hints missed
  // meanwhile, and the outage shows in /readyz and in the registry's reload warnings.
  redis.on('error', () => {});
  await redis.connect();
  return redis;
}
