// The planning chain against a real redis-server: claims decide contested names before the
// registry does, lag counts only the vendors the pool owns, and an unreachable Redis throws.
import { Redis } from 'ioredis';
import { keys } from '../core/keys.js';
import { VendorRegistry } from '../core/registry.js';
import { vendorSpecSchema, workersSpecSchema } from '../core/vendorpool.js';
import { useRedisServer } from '../testing/use-redis-server.js';
import { describeConflict, planPool, type PoolPlanInput } from './plan.js';

const server = useRedisServer();
beforeEach(() => server.redis.flushall());

const vendor = (name: string) => vendorSpecSchema.parse({ name, url: `http://127.0.0.1:1/${name}`, quota: { requestsPerSecond: 1 } });
const workers = workersSpecSchema.parse({ minReplicas: 1, maxReplicas: 5, targetLagPerReplica: 10 });

function input(key: string, createdAt: string, names: string[], claims: PoolPlanInput['claims'] = []): PoolPlanInput {
  const claim = { key, createdAt, vendors: names };
  return { claim, claims: [claim, ...claims], vendors: names.map(vendor), workers, history: [], now: 1_000_000 };
}

async function addLag(name: string, n: number): Promise<void> {
  const p = server.redis.pipeline();
  for (let i = 0; i < n; i++) p.xadd(keys.stream(name, 'normal'), '*', 'id', String(i));
  await p.exec();
}

test('publishes the pool’s vendors and sizes it from their lag', async () => {
  await addLag('a', 25);
  const io = { registry: new VendorRegistry(server.redis), redis: server.redis };
  const plan = await planPool(io, input('ns/one', '1', ['a', 'b']));
  expect(plan.conflicts).toEqual([]);
  expect(plan.lag.total).toBe(25);
  expect(plan.lag.vendors.map((v) => v.name)).toEqual(['a', 'b']);
  expect(plan.scale.replicas).toBe(3);
  expect((await io.registry.get('b'))?.pool).toBe('ns/one');
});

test('a name an earlier pool claims, or the registry already gives another pool, is a conflict and not counted', async () => {
  const io = { registry: new VendorRegistry(server.redis), redis: server.redis };
  await io.registry.publish('ns/unseen', [vendor('held')]);
  await addLag('taken', 100);
  await addLag('held', 100);
  const earlier = { key: 'ns/early', createdAt: '0', vendors: ['taken'] };
  const plan = await planPool(io, input('ns/late', '1', ['taken', 'held', 'own'], [earlier]));
  expect(plan.conflicts).toEqual([{ vendor: 'taken', owner: 'ns/early' }, { vendor: 'held' }]);
  expect(plan.conflicts.map(describeConflict)).toEqual(['taken (owned by ns/early)', 'held (owned by another pool)']);
  expect(plan.lag).toEqual({ total: 0, vendors: [expect.objectContaining({ name: 'own' })] });
  expect(plan.scale.replicas).toBe(1);
  // The earlier pool's claim kept the name out of the registry publish.
  expect(await io.registry.get('taken')).toBeNull();
});

test('Redis unreachable: the plan throws (the caller decides what the workers do)', async () => {
  const closed = new Redis(server.url, { maxRetriesPerRequest: 1 });
  closed.on('error', () => {});
  closed.disconnect();
  await expect(planPool({ registry: new VendorRegistry(closed), redis: closed }, input('ns/x', '1', ['x']))).rejects.toThrow();
});

test('a paused vendor is published paused (workers read it from the registry) and its lag does not size the pool', async () => {
  await addLag('busy', 15);
  await addLag('held', 100);
  const io = { registry: new VendorRegistry(server.redis), redis: server.redis };
  const base = input('ns/p', '1', ['busy', 'held']);
  const plan = await planPool(io, { ...base, vendors: [vendor('busy'), { ...vendor('held'), paused: true }] });
  expect(plan.lag.total).toBe(15);
  expect(plan.lag.vendors.map((v) => [v.name, v.lag, v.paused])).toEqual([
    ['busy', 15, false],
    ['held', 100, true],
  ]);
  expect(plan.scale.replicas).toBe(2); // ceil(15 / 10), not ceil(115 / 10)
  expect((await io.registry.get('held'))?.spec.paused).toBe(true);
  expect((await io.registry.get('busy'))?.spec.paused).toBe(false);
});
