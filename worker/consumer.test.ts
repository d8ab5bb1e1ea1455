// The consumer loop against a real redis-server: a consumer that is stopping still owns the
// entries of the jobs it has not settled, and says so (liveness key, heartbeat) until they have;
// only then may another worker take them over. (Scale-down fault: a draining worker looked dead
// 3 s into its drain and a live worker took over jobs it was still handing back or calling —
// e2e/faults/scale-down.test.ts.)
import { pino } from 'pino';
import { keys } from '../core/keys.js';
import * as queue from '../core/queue.js';
import type { QueueEntry } from '../core/queue.js';
import { vendorSpecSchema } from '../core/vendorpool.js';
import { useRedisServer } from '../testing/use-redis-server.js';
import { createVendorBreaker } from './breaker.js';
import { startVendorConsumer, type VendorConsumer } from './consumer.js';
import { createWorkerMetrics } from './metrics.js';
import type { JobProcessor } from './process.js';
import { createSlots } from './slots.js';

const LIVENESS_MS = 300;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const server = useRedisServer();

/** A consumer whose jobs run until the test lets them finish (without acking: like a failed hand-back). */
function consumer(vendor: string, name: string) {
  const spec = vendorSpecSchema.parse({ name: vendor, url: 'http://127.0.0.1:9/fetch', quota: { requestsPerSecond: 10 } });
  const started: QueueEntry[] = [];
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const process: JobProcessor = async (_v, entry) => {
    started.push(entry);
    await finished;
  };
  const c: VendorConsumer = startVendorConsumer({
    runtime: { spec, breaker: createVendorBreaker(spec), retired: new AbortController().signal },
    blocking: server.redis.duplicate(),
    redis: server.redis,
    consumerName: name,
    slots: createSlots(2),
    maxBatch: () => 2,
    process,
    signals: { stopping: new AbortController().signal, hardStop: new AbortController().signal },
    metrics: createWorkerMetrics(),
    logger: pino({ level: 'silent' }),
    visibilityTimeoutMs: 30_000,
    livenessMs: LIVENESS_MS,
    blockMs: 100,
  });
  return { c, started, finish };
}

test('a stopping consumer stays alive until its jobs have settled; then its pending entries may be taken over at once', async () => {
  const vendor = 'draining';
  await queue.ensureGroup(server.redis, vendor);
  await queue.enqueue(server.redis, vendor, 'job-1', 'normal');
  const w = consumer(vendor, 'leaving');
  const t0 = Date.now();
  while (w.started.length === 0) {
    if (Date.now() - t0 > 5000) throw new Error('the consumer never started the job');
    await sleep(20);
  }

  const stopped = w.c.stop();
  // Several liveness periods into the drain, with the job still running: not dead to the others.
  await sleep(4 * LIVENESS_MS);
  expect(await server.redis.exists(keys.consumerAlive(vendor, 'leaving'))).toBe(1);
  expect(await queue.deadConsumers(server.redis, vendor, 'normal', 'survivor', LIVENESS_MS)).toEqual([]);

  // The job settles without acking its entry (a hand-back whose store write failed): once the
  // consumer has stopped, its key is gone and the entry is taken over without waiting.
  w.finish();
  await stopped;
  expect(await server.redis.exists(keys.consumerAlive(vendor, 'leaving'))).toBe(0);
  await sleep(LIVENESS_MS); // (a consumer must also be idle that long: see queue.deadConsumers)
  expect(await queue.deadConsumers(server.redis, vendor, 'normal', 'survivor', LIVENESS_MS)).toEqual(['leaving']);
}, 20_000);
