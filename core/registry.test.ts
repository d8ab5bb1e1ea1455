// The vendor registry against a real redis-server: the ownership rule of its publish script, and
// a RegistryView whose failing reload is reported, never swallowed (issue 10, silent errors).
import { Redis } from 'ioredis';
import { startRedis } from '../testing/redis-server.js';
import { useRedisServer } from '../testing/use-redis-server.js';
import type { VendorSpec } from './vendorpool.js';
import { RegistryView, VendorRegistry } from './registry.js';

const server = useRedisServer();

const spec = (name: string, requestsPerSecond = 1): VendorSpec => ({
  name,
  mode: 'sync',
  url: 'http://127.0.0.1:9/x',
  timeoutSeconds: 10,
  quota: { requestsPerSecond, maxInFlight: 0 },
  retry: { maxAttempts: 5, initialBackoffMs: 200, maxBackoffMs: 30000 },
  circuitBreaker: { consecutiveFailures: 5, halfOpenAfterSeconds: 30 },
  cleaning: { drop: [], redact: [] },
  paused: false,
});

describe('publish: a vendor belongs to the pool that published it first', () => {
  /** vendor name → owning pool. */
  const owners = async (registry: VendorRegistry) => Object.fromEntries([...(await registry.all())].map(([name, e]) => [name, e.pool]));

  test('another pool cannot take it over; a pool changes and removes only its own vendors', async () => {
    const registry = new VendorRegistry(server.redis);
    expect(await registry.publish('ns/a', [spec('acme'), spec('beta')])).toEqual([]);
    // Pool b asks for acme too: refused, and acme stays a's as it was; b's other vendor is set.
    expect(await registry.publish('ns/b', [spec('acme', 99), spec('gamma')])).toEqual(['acme']);
    expect(await owners(registry)).toEqual({ acme: 'ns/a', beta: 'ns/a', gamma: 'ns/b' });
    expect((await registry.get('acme'))!.spec.quota.requestsPerSecond).toBe(1);
    // a publishes again without beta and with a new quota for acme: beta goes, acme changes, gamma stays.
    expect(await registry.publish('ns/a', [spec('acme', 7)])).toEqual([]);
    expect(await owners(registry)).toEqual({ acme: 'ns/a', gamma: 'ns/b' });
    expect((await registry.get('acme'))!.spec.quota.requestsPerSecond).toBe(7);
    // b's publish still lists acme: still refused, and b keeps gamma.
    expect(await registry.publish('ns/b', [spec('acme', 99), spec('gamma')])).toEqual(['acme']);
    // Once a removes its pool, acme is free, and b's next publish takes it.
    await registry.removePool('ns/a');
    expect(await owners(registry)).toEqual({ gamma: 'ns/b' });
    expect(await registry.publish('ns/b', [spec('acme', 99), spec('gamma')])).toEqual([]);
    expect(await owners(registry)).toEqual({ acme: 'ns/b', gamma: 'ns/b' });
    expect((await registry.get('acme'))!.spec.quota.requestsPerSecond).toBe(99);
  });
});

test('a reload that fails (Redis gone) is reported through onError, and the last known vendors stay', async () => {
  // A server of its own: this test stops it.
  const doomed = await startRedis();
  const redis = new Redis(doomed.url, { maxRetriesPerRequest: 0, retryStrategy: () => 200, enableOfflineQueue: false, lazyConnect: true });
  redis.on('error', () => undefined); // the test reads errors through onError below
  await redis.connect();
  const subscriber = redis.duplicate();
  subscriber.on('error', () => undefined);
  await subscriber.connect();
  const errors: unknown[] = [];
  const view = new RegistryView(new VendorRegistry(redis), subscriber, 50, { onError: (err) => errors.push(err) });
  try {
    await new VendorRegistry(redis).publish('local/p', [spec('acme')]);
    await view.start();
    expect([...view.vendors().keys()]).toEqual(['acme']);
    await doomed.stop();
    const deadline = Date.now() + 5000;
    while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(errors.length).toBeGreaterThan(0);
    expect([...view.vendors().keys()]).toEqual(['acme']);
  } finally {
    await view.stop();
    subscriber.disconnect();
    redis.disconnect();
  }
});
