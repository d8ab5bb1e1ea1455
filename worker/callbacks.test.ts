// Completion callbacks end to end on real parts: the worker in-process (its sender loop
// included), a private redis-server, the SQLite store, the sync vendor mock as the vendor, and
// a real HTTP receiver on 127.0.0.1 that checks each delivery with the `standardwebhooks`
// package, as a client's receiver would. 127.0.0.1 is allowlisted explicitly (by IP, with
// http://), as a client with a receiver on a private address would have to.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { parseCallbackClients, type CallbackClient } from '../core/callback-policy.js';
import type { Job } from '../core/job.js';
import { enqueue } from '../core/queue.js';
import type { VendorSpec } from '../core/vendorpool.js';
import { useRedisServer } from '../testing/use-redis-server.js';
import { FAST_WORKER_TIMINGS, publishVendors, settledValue, sleep, startTestWorker, testVendorSpec, useCleanups, useSharedSyncMock, useTempJobStore } from '../testing/worker-harness.js';
import { SENSITIVE_VALUES } from '../vendor-mocks/index.js';
import type { CallbackSenderOptions } from './callbacks.js';

const SECRET = `whsec_${Buffer.from('the callback secret of client A!').toString('base64')}`;
const OTHER_SECRET = `whsec_${Buffer.from('some other client secret, 32 b!!').toString('base64')}`;
const CLIENT = 'key:0123456789abcdef';

// ---- a receiver --------------------------------------------------------------------------

interface Delivery {
  headers: Record<string, string>;
  rawBody: string;
}
interface Receiver {
  url: string;
  port: number;
  deliveries: Delivery[];
  answer: (n: number) => { status: number; headers?: Record<string, string> };
  close(): Promise<void>;
}

async function startReceiver(answer: Receiver['answer'] = () => ({ status: 200 })): Promise<Receiver> {
  const r: Receiver = { url: '', port: 0, deliveries: [], answer, close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = r.deliveries.length;
      r.deliveries.push({ headers: req.headers as Record<string, string>, rawBody: Buffer.concat(chunks).toString('utf8') });
      const a = r.answer(n);
      res.writeHead(a.status, a.headers);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.port = (server.address() as AddressInfo).port;
  r.url = `http://127.0.0.1:${r.port}/hook`;
  r.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  cleanups.push(() => r.close());
  return r;
}

/** What the client's receiver does: verify the signature, then read the event. */
function verified(d: Delivery, secret = SECRET): { type: string; data: Record<string, unknown> } {
  return new Webhook(secret).verify(d.rawBody, d.headers) as { type: string; data: Record<string, unknown> };
}

// ---- harness -----------------------------------------------------------------------------

const server = useRedisServer();
const store = useTempJobStore('vf-callbacks-');
const cleanups = useCleanups();
const mock = useSharedSyncMock(); // after useCleanups(): knobs are reset once the test's workers are closed

function clients(allow: string[], secret = SECRET): Map<string, CallbackClient> {
  const parsed = parseCallbackClients(JSON.stringify([{ apiKey: 'unused', secret, allow }]));
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  // Keyed by our test client id (jobs here are created straight in the store, not by the api).
  return new Map([...parsed.clients.values()].map((c) => [CLIENT, { ...c, clientId: CLIENT }]));
}

const FAST: CallbackSenderOptions = { pollIntervalMs: 50, initialBackoffMs: 100, maxBackoffMs: 200, maxAttempts: 3, timeoutMs: 2000 };

async function startWorker(allow: string[], vendors: VendorSpec[] = [], callbacks: CallbackSenderOptions = FAST) {
  const callbackClients = clients(allow); // first: a bad allowlist throws before anything is opened
  const { pool } = await publishVendors(server.redis, vendors);
  const { worker, metrics } = await startTestWorker(
    { redis: server.redis, store, pool, cleanups },
    { concurrency: 4, callbackClients, options: { ...FAST_WORKER_TIMINGS, callbacks } },
  );
  const count = async (outcome: string) => (await metrics.callbacks.get()).values.filter((v) => v.labels.outcome === outcome).reduce((n, v) => n + v.value, 0);
  return { worker, metrics, count };
}

const vendorSpec = (name: string, over: Record<string, unknown> = {}): VendorSpec =>
  testVendorSpec(name, mock.fetchUrl, { retry: { maxAttempts: 2, initialBackoffMs: 50, maxBackoffMs: 100 }, ...over });

/** A job with a callback, queued for the worker (as the api would do it). */
async function submit(vendor: string, callbackUrl: string, payload: unknown = { company: 'acme' }): Promise<string> {
  const id = randomUUID();
  await store.create({ request_id: id, vendor, payload, deadline_at: new Date(Date.now() + 30_000), callback_url: callbackUrl, client_id: CLIENT }, new Date());
  await enqueue(server.redis, vendor, id, 'normal');
  return id;
}

/** A job finished without any worker call (a client's cancel, as api/cancel.ts does). */
async function cancelled(callbackUrl: string): Promise<string> {
  const id = randomUUID();
  await store.create({ request_id: id, vendor: 'nobody', payload: {}, deadline_at: new Date(Date.now() + 30_000), callback_url: callbackUrl, client_id: CLIENT }, new Date());
  await store.cancel(id, new Date());
  return id;
}

/** Polls until `done(value)` or 10 s; returns the last value read either way. */
const settled = <T>(read: () => Promise<T>, done: (v: T) => boolean) => settledValue(read, done, 10_000);
const finalCallback = (id: string) => settled(() => store.get(id), (j) => j?.callback?.state === 'delivered' || j?.callback?.state === 'failed');
const vendorName = () => `cb-${randomUUID().slice(0, 8)}`;

// ---- delivery ----------------------------------------------------------------------------

describe('completion callbacks', () => {
  test('a complete job: one POST, verified by standardwebhooks, carrying the stored (cleaned) result; delivered, counted', async () => {
    const receiver = await startReceiver();
    const name = vendorName();
    const { count } = await startWorker(['http://127.0.0.1'], [vendorSpec(name)]);
    const id = await submit(name, receiver.url);
    const job = (await finalCallback(id)) as Job;
    expect(job.status).toBe('complete');
    expect(job.callback).toMatchObject({ state: 'delivered', attempts: 1 });
    expect(job.callback?.last_error).toBeUndefined();
    expect(receiver.deliveries).toHaveLength(1);
    const d = receiver.deliveries[0]!;
    expect(d.headers['webhook-id']).toBe(`job_${id}`);
    expect(d.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    const event = verified(d);
    expect(event.type).toBe('job.complete');
    expect(event.data).toMatchObject({ request_id: id, vendor: name, status: 'complete', attempts: 1 });
    expect(event.data['result']).toEqual(job.result);
    // The mock's answer carries PII that cleaning drops: the receiver gets the cleaned result only.
    for (const secretValue of SENSITIVE_VALUES) expect(d.rawBody).not.toContain(secretValue);
    // Another client's secret does not verify it.
    expect(() => verified(d, OTHER_SECRET)).toThrow();
    expect(await count('delivered')).toBe(1);
  });

  test('a failed job and a cancelled one are delivered too (job.failed with its error, job.cancelled)', async () => {
    const receiver = await startReceiver();
    const name = vendorName();
    mock.configure({ errorRate: 1, errorStatus: 500 });
    await startWorker(['http://127.0.0.1'], [vendorSpec(name)]);
    const failedId = await submit(name, receiver.url);
    const cancelledId = await cancelled(receiver.url);
    for (const id of [failedId, cancelledId]) expect((await finalCallback(id))?.callback?.state).toBe('delivered');
    const events = receiver.deliveries.map((d) => verified(d));
    const byId = new Map(events.map((e) => [e.data['request_id'], e]));
    expect(byId.get(failedId)).toMatchObject({ type: 'job.failed', data: { status: 'failed', attempts: 2 } });
    expect(String(byId.get(failedId)?.data['error'])).toMatch(/500/);
    expect(byId.get(cancelledId)).toMatchObject({ type: 'job.cancelled', data: { status: 'cancelled', attempts: 0 } });
    expect(events).toHaveLength(2);
  });

  test('retried with backoff: 503, 503, then 200 → delivered on attempt 3; the job showed pending with last_error meanwhile; one webhook-id throughout', async () => {
    const receiver = await startReceiver((n) => ({ status: n < 2 ? 503 : 200 }));
    const { count } = await startWorker(['http://127.0.0.1'], [], { ...FAST, initialBackoffMs: 300, maxBackoffMs: 300 });
    const id = await cancelled(receiver.url);
    const meanwhile = await settled(() => store.get(id), (j) => (j?.callback?.attempts ?? 0) >= 1 && j?.callback?.last_error !== undefined);
    expect(meanwhile?.callback).toMatchObject({ state: 'pending', attempts: 1, last_error: 'receiver_error: HTTP 503' });
    const job = await finalCallback(id);
    expect(job?.callback).toMatchObject({ state: 'delivered', attempts: 3 });
    expect(receiver.deliveries).toHaveLength(3);
    expect(new Set(receiver.deliveries.map((d) => d.headers['webhook-id']))).toEqual(new Set([`job_${id}`]));
    for (const d of receiver.deliveries) expect(verified(d).data['request_id']).toBe(id);
    // Backoff: with a 300 ms step and equal jitter, attempts are at least 150 ms apart.
    const ts = receiver.deliveries.map((d) => Number(d.headers['webhook-timestamp']));
    expect(ts[2]! - ts[0]!).toBeGreaterThanOrEqual(0);
    expect(await count('retry')).toBe(2);
    expect(await count('delivered')).toBe(1);
  });

  test('dead-lettered after the last attempt: failed, last_error kept, counted; no further POST', async () => {
    const receiver = await startReceiver(() => ({ status: 500 }));
    const { count } = await startWorker(['http://127.0.0.1'], []);
    const id = await cancelled(receiver.url);
    const job = await finalCallback(id);
    expect(job?.callback).toMatchObject({ state: 'failed', attempts: 3, last_error: 'receiver_error: HTTP 500' });
    await sleep(400);
    expect(receiver.deliveries).toHaveLength(3);
    expect(await count('dead_letter')).toBe(1);
    expect(await count('retry')).toBe(2);
  });

  test('survives a sender killed mid-delivery: after its lease, a live worker delivers again with the same webhook-id', async () => {
    const receiver = await startReceiver();
    const id = await cancelled(receiver.url);
    // A sender claimed the delivery and died before settling it (no worker ran meanwhile).
    const claimed = await store.claimCallback(id, 0, new Date(Date.now() + 700), new Date());
    expect(claimed?.callback?.attempts).toBe(1);
    await startWorker(['http://127.0.0.1'], []);
    await sleep(400);
    expect(receiver.deliveries).toHaveLength(0); // still leased by the dead sender
    const job = await finalCallback(id);
    expect(job?.callback).toMatchObject({ state: 'delivered', attempts: 2 });
    expect(receiver.deliveries.map((d) => d.headers['webhook-id'])).toEqual([`job_${id}`]);
  });

  test('two workers polling the same store: each delivery is sent once', async () => {
    const receiver = await startReceiver();
    await startWorker(['http://127.0.0.1'], []);
    await startWorker(['http://127.0.0.1'], []);
    const ids = await Promise.all(Array.from({ length: 10 }, () => cancelled(receiver.url)));
    for (const id of ids) expect((await finalCallback(id))?.callback).toMatchObject({ state: 'delivered', attempts: 1 });
    expect(receiver.deliveries.map((d) => d.headers['webhook-id']).sort()).toEqual(ids.map((id) => `job_${id}`).sort());
  });
});

// ---- SSRF refusals at send time ------------------------------------------------------------

describe('completion callbacks: refusals at send time (nothing reaches the target)', () => {
  test('a name resolving to a loopback address, allowlisted only by name → failed (address_refused), no request', async () => {
    const receiver = await startReceiver();
    const { count } = await startWorker(['http://localhost'], []);
    const id = await cancelled(`http://localhost:${receiver.port}/hook`);
    const job = await finalCallback(id);
    expect(job?.callback).toMatchObject({ state: 'failed', attempts: 1 });
    expect(job?.callback?.last_error).toMatch(/^address_refused: localhost resolves to .*127\.0\.0\.1/);
    expect(receiver.deliveries).toHaveLength(0);
    expect(await count('dead_letter')).toBe(1);
  });

  test('the same name with its loopback address allowlisted by IP → delivered (the check is on the address)', async () => {
    const receiver = await startReceiver();
    await startWorker(['http://localhost', '127.0.0.1/32'], []);
    const id = await cancelled(`http://localhost:${receiver.port}/hook`);
    expect((await finalCallback(id))?.callback).toMatchObject({ state: 'delivered', attempts: 1 });
    expect(receiver.deliveries).toHaveLength(1);
  });

  test('a redirect answer is not followed: failed (redirect_refused), the redirect target never called', async () => {
    const target = await startReceiver();
    const receiver = await startReceiver(() => ({ status: 307, headers: { location: target.url } }));
    await startWorker(['http://127.0.0.1'], []);
    const id = await cancelled(receiver.url);
    const job = await finalCallback(id);
    expect(job?.callback).toMatchObject({ state: 'failed', attempts: 1, last_error: 'redirect_refused: HTTP 307 (redirects are not followed)' });
    expect(receiver.deliveries).toHaveLength(1);
    expect(target.deliveries).toHaveLength(0);
  });

  test('a loopback IP literal the allowlist does not cover (allowlist changed since the submit) → failed (not_allowed), no request', async () => {
    const receiver = await startReceiver();
    await startWorker(['http://10.9.9.9'], []);
    const id = await cancelled(receiver.url);
    const job = await finalCallback(id);
    expect(job?.callback).toMatchObject({ state: 'failed', attempts: 1 });
    expect(job?.callback?.last_error).toMatch(/^not_allowed: host 127\.0\.0\.1 is not on this client's callback allowlist/);
    expect(receiver.deliveries).toHaveLength(0);
  });

  test('http to a host allowlisted without http:// → failed (https only), no request', async () => {
    const receiver = await startReceiver();
    await startWorker(['127.0.0.1'], []);
    const id = await cancelled(receiver.url);
    const job = await finalCallback(id);
    expect(job?.callback?.state).toBe('failed');
    expect(job?.callback?.last_error).toMatch(/must be https/);
    expect(receiver.deliveries).toHaveLength(0);
  });

  test('a client no longer configured on the worker → retried (not refused), then dead-lettered with not_configured', async () => {
    const receiver = await startReceiver();
    await startWorker(['http://127.0.0.1'], []);
    const id = randomUUID();
    await store.create({ request_id: id, vendor: 'nobody', payload: {}, deadline_at: new Date(Date.now() + 30_000), callback_url: receiver.url, client_id: 'key:ffffffffffffffff' }, new Date());
    await store.cancel(id, new Date());
    const job = await finalCallback(id);
    expect(job?.callback).toMatchObject({ state: 'failed', attempts: 3 });
    expect(job?.callback?.last_error).toMatch(/^not_configured:/);
    expect(receiver.deliveries).toHaveLength(0);
  });
});
