// The fault suite (issue 10): one test per fault, against real processes and real servers.
// Each ends with the same assertion: every accepted job is complete or failed with a reason,
// and none was completed twice (support.ts, expectEveryJobSettledOnce).
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { VendorRegistry } from '../../core/registry.js';
import { vendorSpecSchema } from '../../core/vendorpool.js';
import { startDataPlane, submitMany, type DataPlane } from '../dataplane/harness.js';
import { freePort } from '../../testing/ports.js';
import { eventually, startProgram } from '../../testing/programs.js';
import { allFinished, settlementProblems, restartableRedis, startVendor, type TestVendor } from './support.js';

// Short timers: a dead worker's or a hung call's jobs come back within seconds.
const workerEnv = { VF_CONCURRENCY: '10', VF_VISIBILITY_TIMEOUT_MS: '3000', VF_SWEEP_INTERVAL_MS: '300', VF_CALL_MARGIN_MS: '300' };
// Few, quick retries, and a breaker that stays out of the way: the faults are what is tested.
const failFast = { timeoutSeconds: 1, retry: { maxAttempts: 2, initialBackoffMs: 50, maxBackoffMs: 100 }, circuitBreaker: { consecutiveFailures: 1000, halfOpenAfterSeconds: 1 } };

const vendors: TestVendor[] = [];
let plane: DataPlane | undefined;

afterEach(async () => {
  await plane?.stop();
  plane = undefined;
  for (const v of vendors.splice(0)) await v.close();
});

async function planeWith(vendor: TestVendor, name: string, spec: Record<string, unknown> = {}, workers = 1): Promise<DataPlane> {
  plane = await startDataPlane({ VF_PENDING_TIMEOUT_SECONDS: '5' });
  await plane.publish(`local/${name}`, [{ name, url: vendor.url, quota: { requestsPerSecond: 200 }, ...failFast, ...spec }]);
  for (let i = 0; i < workers; i++) await plane.startWorker(`local/${name}`, workerEnv);
  return plane;
}

async function failsEveryJobWith(p: DataPlane, name: string, reason: RegExp, jobs = 10): Promise<string[]> {
  const ids = await submitMany(p, name, jobs, 5);
  await eventually('all jobs finished', () => allFinished(p.store, ids), 60_000, 200);
  for (const id of ids) expect((await p.store.get(id))?.error).toMatch(reason);
  expect(await settlementProblems(p.store, ids, p.workers)).toEqual([]);
  return ids;
}

test('a vendor that redirects: never followed, the jobs fail with vendor_redirect, the other server sees nothing', async () => {
  const elsewhere = await startVendor((_req, res) => res.setHeader('content-type', 'application/json').end('{"stolen":true}'));
  const redirecting = await startVendor((_req, res) => res.writeHead(307, { location: elsewhere.url }).end());
  vendors.push(elsewhere, redirecting);
  const p = await planeWith(redirecting, 'redirects');
  await failsEveryJobWith(p, 'redirects', /^vendor_redirect: HTTP 307/);
  expect(elsewhere.calls).toBe(0);
}, 90_000);

test('a vendor that answers 10 MiB: the call fails above the byte limit, the worker stays up', async () => {
  const huge = JSON.stringify({ blob: 'x'.repeat(10 * 1024 * 1024) });
  const vendor = await startVendor((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(huge));
  vendors.push(vendor);
  const p = await planeWith(vendor, 'huge');
  await failsEveryJobWith(p, 'huge', /^vendor_answer_too_large/, 4);
  expect(p.workers[0]!.child.exitCode).toBeNull();
}, 90_000);

test("a vendor's own maxAnswerBytes: its 64 KiB answers fail, another vendor's pass under the worker's 4 MiB", async () => {
  const answer = JSON.stringify({ blob: 'x'.repeat(64 * 1024) });
  const vendor = await startVendor((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(answer));
  vendors.push(vendor);
  // One worker serves both vendors; only the spec differs.
  plane = await startDataPlane({ VF_PENDING_TIMEOUT_SECONDS: '5' });
  await plane.publish('local/answers', [
    { name: 'strict', url: vendor.url, quota: { requestsPerSecond: 200 }, ...failFast, maxAnswerBytes: 16 * 1024 },
    { name: 'lenient', url: vendor.url, quota: { requestsPerSecond: 200 }, ...failFast },
  ]);
  await plane.startWorker('local/answers', workerEnv);
  await failsEveryJobWith(plane, 'strict', /^vendor_answer_too_large: the answer exceeds the limit of 16384 bytes/, 3);
  const ok = await submitMany(plane, 'lenient', 3, 3);
  await eventually('the lenient jobs finished', () => allFinished(plane!.store, ok), 60_000, 200);
  for (const id of ok) expect((await plane.store.get(id))?.status).toBe('complete');
}, 90_000);

test('a vendor that answers garbage: the jobs fail with vendor_bad_answer', async () => {
  const vendor = await startVendor((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('<html>oops{'));
  vendors.push(vendor);
  const p = await planeWith(vendor, 'garbage');
  await failsEveryJobWith(p, 'garbage', /^vendor_bad_answer/);
}, 90_000);

test('a vendor that hangs: calls time out, the jobs fail with vendor_timeout', async () => {
  const vendor = await startVendor(() => undefined); // reads the request, never answers
  vendors.push(vendor);
  const p = await planeWith(vendor, 'hangs');
  await failsEveryJobWith(p, 'hangs', /^vendor_timeout/, 5);
}, 90_000);

test('a worker SIGKILLed while its jobs wait for quota: every job completes, none twice', async () => {
  const vendor = await startVendor((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  vendors.push(vendor);
  // 4 calls a second for 30 jobs: most of them sit in the quota wait of one of two workers.
  const p = await planeWith(vendor, 'slowquota', { quota: { requestsPerSecond: 4, burst: 1 } }, 2);
  const ids = await submitMany(p, 'slowquota', 30, 10);
  await eventually('a few complete', async () => (await p.counts('slowquota')).complete >= 3, 30_000, 100);
  await p.workers[0]!.kill('SIGKILL');
  await eventually('all jobs complete', async () => (await p.counts('slowquota')).complete === ids.length, 90_000, 250);
  expect(await settlementProblems(p.store, ids, p.workers)).toEqual([]);
}, 120_000);

test('two api processes get the same Idempotency-Key at once: one job; each answer is that job (202) or 409', async () => {
  const vendor = await startVendor((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  vendors.push(vendor);
  const p = await planeWith(vendor, 'idem');
  const port = await freePort();
  const second = await startProgram(
    'api-2',
    (process.env.VF_E2E_DIST ?? 'dist') + '/api/main.js',
    { ...p.env, PORT: String(port), API_METRICS_PORT: String(await freePort()) },
    { waitPort: port },
  );
  try {
    await p.submit('idem', { warm: true }); // both apis know the vendor
    const key = `order-${randomUUID()}`;
    const post = (base: string) =>
      fetch(`${base}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ vendor: 'idem', payload: { order: 42 } }),
      });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => post(i % 2 === 0 ? p.apiUrl : `http://127.0.0.1:${port}`)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
    const ids = new Set(await Promise.all(answers.filter((r) => r.status === 202).map(async (r) => ((await r.json()) as { request_id: string }).request_id)));
    expect(ids.size).toBe(1);
    const [id] = [...ids] as [string];
    await eventually('the job completes', () => allFinished(p.store, [id]), 30_000, 100);
    expect(await settlementProblems(p.store, [id], p.workers)).toEqual([]);
  } finally {
    await second.stop();
  }
}, 90_000);

test('Redis restarts (connections drop, data gone): registry re-published, every accepted job completes', async () => {
  const vendor = await startVendor((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  vendors.push(vendor);
  const redisServer = await restartableRedis();
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined); // the restart below is on purpose
  const spec = vendorSpecSchema.parse({ name: 'restart', url: vendor.url, quota: { requestsPerSecond: 200 }, ...failFast });
  const publish = () => new VendorRegistry(redis).publish('local/restart', [spec]);
  try {
    plane = await startDataPlane({ VF_PENDING_TIMEOUT_SECONDS: '5', REDIS_URL: redisServer.url });
    await publish();
    await plane.startWorker('local/restart', workerEnv);
    const before = await submitMany(plane, 'restart', 20, 5);
    await redisServer.stop();
    await new Promise((r) => setTimeout(r, 500));
    await redisServer.start();
    await publish(); // what the controller / local supervisor does by itself every tick
    await eventually('the api is ready again', async () => (await fetch(`${plane!.apiUrl}/readyz`)).status === 200, 30_000, 100);
    const after = await submitMany(plane, 'restart', 10, 5);
    const ids = [...before, ...after];
    await eventually('all jobs complete', async () => (await plane!.counts('restart')).complete === ids.length, 60_000, 250);
    expect(await settlementProblems(plane.store, ids, plane.workers)).toEqual([]);
  } finally {
    redis.disconnect();
    await plane?.stop();
    plane = undefined;
    await redisServer.close();
  }
}, 120_000);
