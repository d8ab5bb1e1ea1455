// Wakes the quota gate's waiters (quota.ts) when any worker process frees an in-flight slot of
// their vendor: one pub/sub connection per gate, one channel per vendor, subscribed the first
// time a waiter there is blocked by maxInFlight. A lost message costs only the early wake-up:
// a blocked waiter asks again after inFlightRecheckMs anyway.
import type { Redis } from 'ioredis';
import { keys } from '../core/keys.js';

/** Channel announcing a freed in-flight slot of `vendor` (published by vfQuotaRelease). */
export const releasedChannel = (vendor: string): string => `${keys.quota(vendor, 'inflight')}:released`;

export interface ReleaseListener {
  /** Subscribes to `vendor`'s releases, once; a failure goes to onError and the next call tries again. */
  listen(vendor: string): Promise<void>;
  /** Stops listening: disconnects a subscriber it created, else unsubscribes the given one. Idempotent. */
  close(): Promise<void>;
}

export function createReleaseListener(
  redis: Redis,
  opts: {
    /** Connection to subscribe on; default `redis.duplicate()`, created when first needed. */
    subscriber?: Redis | undefined;
    onRelease: (vendor: string) => void;
    onError: (err: unknown) => void;
  },
): ReleaseListener {
  let subscriber = opts.subscriber;
  const ownsSubscriber = opts.subscriber === undefined;
  /** Channel → vendor, for every channel subscribed or being subscribed. */
  const vendors = new Map<string, string>();
  let attached = false;
  let closed = false;
  const onMessage = (channel: string) => {
    const vendor = vendors.get(channel);
    if (vendor !== undefined) opts.onRelease(vendor);
  };

  return {
    async listen(vendor) {
      const channel = releasedChannel(vendor);
      if (vendors.has(channel) || closed) return;
      vendors.set(channel, vendor);
      subscriber ??= redis.duplicate();
      if (!attached) {
        subscriber.on('message', onMessage);
        attached = true;
      }
      try {
        await subscriber.subscribe(channel);
      } catch (err) {
        vendors.delete(channel);
        opts.onError(err);
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      if (!subscriber) return;
      if (attached) subscriber.off('message', onMessage);
      if (ownsSubscriber) subscriber.disconnect();
      else if (vendors.size > 0) await subscriber.unsubscribe(...vendors.keys()).catch(opts.onError);
    },
  };
}
