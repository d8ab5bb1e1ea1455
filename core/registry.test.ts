// RegistryView against a real redis-server: a failing reload is reported, never swallowed
// (issue 10, silent errors).
import { Redis } from 'ioredis';
import { startRedis } from '../testing/redis-server.js';
import { RegistryView, VendorRegistry } from './registry.js';

test('a reload that fails (Redis gone) is reported through onError, and the last known vendors stay', async () => {
  const server = await startRedis();
  const redis = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => 200, enableOfflineQueue: false, lazyConnect: true });
  redis.on('error', () => undefined); // the test reads errors through onError below
  await redis.connect();
  const subscriber = redis.duplicate();
  subscriber.on('error', () => undefined);
  await subscriber.connect();
  const errors: unknown[] = [];
  const view = new RegistryView(new VendorRegistry(redis), subscriber, 50, { onError: (err) => errors.push(err) });
  try {
    await new VendorRegistry(redis).publish('local/p', [
      { name: 'acme', mode: 'sync', url: 'http://127.0.0.1:9/x', timeoutSeconds: 10, quota: { requestsPerSecond: 1, maxInFlight: 0 }, retry: { maxAttempts: 5, initialBackoffMs: 200, maxBackoffMs: 30000 }, circuitBreaker: { consecutiveFailures: 5, halfOpenAfterSeconds: 30 }, cleaning: { drop: [], redact: [] } },
    ]);
    await view.start();
    expect([...view.vendors().keys()]).toEqual(['acme']);
    await server.stop();
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
