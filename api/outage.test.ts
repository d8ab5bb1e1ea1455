// 503 with nothing half-written: Redis stopped (its private redis-server is killed), or the
// store closed. Separate file: these tests break their dependencies on purpose.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { keys } from '../core/keys.js';
import { createJobStore } from '../core/store/index.js';
import { postJson, signWebhook, startApi, startServices, type TestServices } from '../testing/api-app.js';

const none = { pending: 0, processing: 0, complete: 0, failed: 0, cancelled: 0 };

describe('store down', () => {
  let s: TestServices;
  let dir: string;
  beforeAll(async () => {
    s = await startServices();
    dir = await mkdtemp(path.join(os.tmpdir(), 'vf-api-closed-'));
  });
  afterAll(async () => {
    await s?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('POST /jobs → 503 and nothing queued; GET → 503; /readyz → 503', async () => {
    const broken = await createJobStore({ sqlitePath: path.join(dir, 'jobs.db') });
    await broken.close();
    const api = await startApi(s, {}, { store: broken });
    try {
      const res = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: {} });
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const body = (await res.json()) as { detail: string };
      expect(body.detail).toBe('job store is unavailable'); // no driver internals
      expect(await s.redis.xlen(keys.stream('acme', 'normal'))).toBe(0);
      expect((await fetch(`${api.base}/jobs/${randomUUID()}`)).status).toBe(503);
      expect((await fetch(`${api.base}/readyz`)).status).toBe(503);
      expect((await fetch(`${api.base}/healthz`)).status).toBe(200);
    } finally {
      await api.close();
    }
  });
});

describe('Redis down', () => {
  let s: TestServices;
  beforeAll(async () => {
    s = await startServices();
  });
  afterAll(async () => {
    await s?.close();
  });

  test('POST /jobs → 503 at once, and the store holds nothing for it; webhooks → 503; /readyz → 503', async () => {
    const api = await startApi(s);
    try {
      // While Redis is up the path works…
      expect((await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: {} })).status).toBe(202);
      const before = await s.store.countByStatus('acme');
      expect(before.pending).toBe(1);

      await s.redisServer.stop();
      const started = Date.now();
      const answers = await Promise.all(
        Array.from({ length: 5 }, () => postJson(`${api.base}/jobs`, { vendor: 'acme', payload: { n: 1 } }, { 'Idempotency-Key': randomUUID() })),
      );
      expect(answers.map((r) => r.status)).toEqual([503, 503, 503, 503, 503]);
      expect(Date.now() - started).toBeLessThan(3000); // fails fast, does not hold requests
      // The jobs created before XADD failed were deleted again: only the first job remains.
      expect(await s.store.countByStatus('acme')).toEqual(before);

      // A processing async job: its webhook cannot be checked for replay without Redis.
      const webhookRaw = JSON.stringify({ request_id: randomUUID(), data: {} });
      const wh = await postJson(`${api.base}/vendor-webhook/slowco`, webhookRaw, signWebhook(webhookRaw, { id: 'msg_1' }));
      expect(wh.status).toBe(503);
      expect((await fetch(`${api.base}/readyz`)).status).toBe(503);
    } finally {
      await api.close();
    }
  });

});

// Stands alone (its own servers, no order dependence) and submits to the vendor it checks:
// the earlier version asserted on a vendor nothing was ever submitted to, so it could not fail.
describe('Redis down, another vendor', () => {
  let s: TestServices;
  beforeAll(async () => {
    s = await startServices();
  });
  afterAll(async () => {
    await s?.close();
  });

  test('a job for another vendor submitted during the outage was never written either', async () => {
    const api = await startApi(s);
    try {
      await s.redisServer.stop();
      const res = await postJson(`${api.base}/jobs`, { vendor: 'slowco', payload: { n: 1 } });
      expect(res.status).toBe(503);
      const keyed = await postJson(`${api.base}/jobs`, { vendor: 'slowco', payload: { n: 2 } }, { 'Idempotency-Key': randomUUID() });
      expect(keyed.status).toBe(503);
      expect(await s.store.countByStatus('slowco')).toEqual(none);
    } finally {
      await api.close();
    }
  });
});

describe('Redis lost its data (FLUSHALL)', () => {
  let s: TestServices;
  beforeAll(async () => {
    s = await startServices();
  });
  afterAll(async () => {
    await s?.close();
  });

  test('known vendors are still accepted while the registry is being re-published', async () => {
    const api = await startApi(s);
    try {
      await s.redis.flushall();
      await s.registryView.reload(); // what its poll would do within 2 s
      expect(s.registryView.vendors().size).toBe(0);
      const res = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: {} });
      expect(res.status).toBe(202);
      const { request_id } = (await res.json()) as { request_id: string };
      expect(await s.redis.xrange(keys.stream('acme', 'normal'), '-', '+')).toEqual([[expect.any(String), ['id', request_id]]]);
      // A vendor that was never known is still refused.
      expect((await postJson(`${api.base}/jobs`, { vendor: 'never', payload: {} })).status).toBe(422);
    } finally {
      await api.close();
    }
  });
});
