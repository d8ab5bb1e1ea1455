// Baseline (b): a BullMQ worker doing the same work as a vendorfetch worker — claim the job in
// the store, call the vendor over HTTP, store the answer — so the benchmark compares the queue
// machinery, not the vendor. Its own process, like vendorfetch's worker; listens on PORT once
// ready (the benchmark waits for that port).
import { Worker } from 'bullmq';
import { createServer } from 'node:http';
import { createJobStore } from '../../core/store/index.js';

const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const vendorUrl = process.env.VENDOR_URL ?? 'http://127.0.0.1:9101/fetch';
const store = await createJobStore({ sqlitePath: process.env.VF_SQLITE_PATH ?? '.data/bench.db' });

const worker = new Worker(
  'bench',
  async (job) => {
    const id = job.data.id as string;
    const now = new Date();
    const claimed = await store.startAttempt(id, new Date(now.getTime() + 60_000), now);
    if (!claimed) return;
    const res = await fetch(vendorUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ request_id: id, payload: claimed.payload }),
    });
    await store.complete(id, await res.json(), new Date());
  },
  {
    connection: { host: redisUrl.hostname, port: Number(redisUrl.port), maxRetriesPerRequest: null },
    concurrency: Number(process.env.CONCURRENCY ?? 20),
    removeOnComplete: { count: 0 },
  },
);
await worker.waitUntilReady();
const ready = createServer((_req, res) => res.end('ok')).listen(Number(process.env.PORT ?? 8091), '127.0.0.1');
process.on('SIGTERM', () => {
  ready.close();
  void worker.close().then(() => store.close());
});
