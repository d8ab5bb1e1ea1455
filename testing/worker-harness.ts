// The in-process worker harness shared by the worker's tests on real parts (worker/*.test.ts).
// Each of them used to copy the same pieces: a list of closers drained after every test, a temp
// SQLite store or the api's services for the file, a sync vendor mock, a worker started on a real
// registry view, quota gate and metrics and closed after the test, its vendors published to the
// registry, a vendor spec with the tests' defaults, POST /jobs retried until the api knows a
// just-published vendor, and polling until a condition holds. Here they stand once; what differs
// between the files (worker options, concurrency, callback clients, the api's options, the
// spec's knobs) is a parameter.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll } from '@jest/globals';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { JobStore, Priority } from '../core/job.js';
import { RegistryView, VendorRegistry } from '../core/registry.js';
import { createSqliteJobStore } from '../core/store/sqlite.js';
import { vendorSpecSchema, type VendorSpec } from '../core/vendorpool.js';
import type { ApiOptions } from '../api/deps.js';
import { startSyncMock, type SyncMock, type SyncMockOptions } from '../vendor-mocks/index.js';
import { createWorkerMetrics, type WorkerMetrics } from '../worker/metrics.js';
import { createQuotaGate } from '../worker/quota.js';
import { createWorker, type Worker, type WorkerDeps, type WorkerOptions } from '../worker/worker.js';
import { postJson, startApi, startServices, type TestApi, type TestServices } from './api-app.js';

/** Closers of what a test started; drained last-in first-out after each test. */
export type Cleanups = Array<() => Promise<void>>;

/** A cleanup list for a test file, drained after each of its tests. */
export function useCleanups(): Cleanups {
  const cleanups: Cleanups = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });
  return cleanups;
}

/**
 * Stands for a value that a beforeAll creates: each property read goes to that value (methods
 * bound to it), so a file names it once at the top and uses it like the value itself.
 */
function createdBeforeAll<T extends object>(what: string, current: () => T | undefined): T {
  return new Proxy({} as T, {
    get(_, key) {
      const target = current();
      if (target === undefined) throw new Error(`${what}: used before beforeAll created it`);
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** A SQLite job store in a new temp folder for a test file: opened before its tests, closed and removed after them. */
export function useTempJobStore(tmpPrefix: string): JobStore {
  let dir: string | undefined;
  let store: JobStore | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), tmpPrefix));
    store = await createSqliteJobStore({ path: path.join(dir, 'jobs.db') });
  });
  afterAll(async () => {
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return createdBeforeAll('useTempJobStore()', () => store);
}

/**
 * One sync vendor mock for all of a test file's tests: started before them, its knobs reset after
 * each test (after the cleanups when useCleanups() was called first), closed after them.
 */
export function useSharedSyncMock(): SyncMock {
  let mock: SyncMock | undefined;
  beforeAll(async () => {
    mock = await startSyncMock({ host: '127.0.0.1', port: 0 });
  });
  afterEach(() => {
    mock?.reset({ knobs: true });
  });
  afterAll(async () => {
    await mock?.close();
  });
  return createdBeforeAll('useSharedSyncMock()', () => mock);
}

/** Read inside tests and hooks (after beforeAll has started everything). */
export interface ServicesAndApi {
  /** The private redis-server, the SQLite store and the registry view (testing/api-app.ts). */
  readonly services: TestServices;
  /** The api over HTTP on those services. */
  readonly api: TestApi;
  /** A plain client on the redis-server, for the workers and for assertions. */
  readonly redis: Redis;
  /** Drained after each test (useCleanups). */
  readonly cleanups: Cleanups;
  /** startTestWorker on these services' redis-server and store. */
  startWorker(pool: string, settings?: TestWorkerSettings): Promise<{ worker: Worker; metrics: WorkerMetrics }>;
}

/** testing/api-app.ts' services and api for a test file, with a plain Redis client and a cleanup list. */
export function useServicesAndApi(apiOptions: ApiOptions = {}): ServicesAndApi {
  let services: TestServices | undefined;
  let api: TestApi | undefined;
  let redis: Redis | undefined;
  beforeAll(async () => {
    services = await startServices();
    api = await startApi(services, apiOptions);
    redis = new Redis(services.redisServer.url);
  });
  const cleanups = useCleanups();
  afterAll(async () => {
    redis?.disconnect();
    await api?.close();
    await services?.close();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useServicesAndApi(): read inside a test or hook, after beforeAll');
    return value;
  };
  return {
    get services() {
      return started(services);
    },
    get api() {
      return started(api);
    },
    get redis() {
      return started(redis);
    },
    cleanups,
    startWorker: (pool, settings) => startTestWorker({ redis: started(redis), store: started(services).store, pool, cleanups }, settings),
  };
}

/**
 * A vendor spec with the defaults the worker tests share (2 s timeout, an ample quota without an
 * in-flight cap, 3 attempts from 100 ms, a breaker that does not open); `over` replaces whole
 * top-level fields.
 */
export function testVendorSpec(name: string, url: string, over: Record<string, unknown> = {}): VendorSpec {
  return vendorSpecSchema.parse({
    name,
    url,
    timeoutSeconds: 2,
    quota: { requestsPerSecond: 1000, maxInFlight: 0 },
    retry: { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 1000 },
    circuitBreaker: { consecutiveFailures: 100, halfOpenAfterSeconds: 1 },
    ...over,
  });
}

/** The sync vendor mock on an ephemeral 127.0.0.1 port, closed with the test's cleanups. */
export async function startSyncMockForTest(cleanups: Cleanups, knobs: SyncMockOptions = {}): Promise<SyncMock> {
  const mock = await startSyncMock({ host: '127.0.0.1', port: 0, ...knobs });
  cleanups.push(() => mock.close());
  return mock;
}

/** Makes the registry hold `vendors` for `pool` (a new pool unless one is named), as a controller would. */
export async function publishVendors(
  redis: Redis,
  vendors: VendorSpec[],
  pool = `test/${randomUUID().slice(0, 8)}`,
): Promise<{ pool: string; registry: VendorRegistry }> {
  const registry = new VendorRegistry(redis);
  await registry.publish(pool, vendors);
  return { pool, registry };
}

/** Loop periods short enough for tests (block, sweep, promote, backlog, drain). */
export const FAST_WORKER_TIMINGS = {
  blockMs: 200,
  sweepIntervalMs: 200,
  promoteIntervalMs: 50,
  backlogIntervalMs: 200,
  drainTimeoutMs: 2000,
} as const satisfies WorkerOptions;

export interface TestWorkerParts {
  /** The worker's command connection; its registry subscriber is a duplicate of it. */
  redis: Redis;
  store: JobStore;
  /** The pool whose vendors the worker serves (see publishVendors). */
  pool: string;
  /** Gets the worker's close. */
  cleanups: Cleanups;
}

/** What differs between the tests' workers; `options` is passed as it is (no defaults added). */
export type TestWorkerSettings = Partial<Pick<WorkerDeps, 'concurrency' | 'webhookBaseUrl' | 'callbackClients' | 'options'>>;

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/**
 * A running worker of `pool` on a registry view (200 ms reloads), a real quota gate and metrics of
 * its own (concurrency 10 unless set); closed, with its gate and subscriber, by the cleanups.
 */
export async function startTestWorker(parts: TestWorkerParts, settings: TestWorkerSettings = {}): Promise<{ worker: Worker; metrics: WorkerMetrics }> {
  const { redis, store, pool, cleanups } = parts;
  const subscriber = redis.duplicate();
  const quota = createQuotaGate(redis);
  const metrics = createWorkerMetrics({ defaultMetrics: false });
  const worker = createWorker({
    redis,
    registry: new RegistryView(new VendorRegistry(redis), subscriber, 200),
    store,
    quota,
    pool,
    metrics,
    logger,
    ...settings,
    concurrency: settings.concurrency ?? 10,
  });
  await worker.run();
  cleanups.push(async () => {
    await worker.close();
    await quota.close();
    subscriber.disconnect();
  });
  return { worker, metrics };
}

/**
 * POST /jobs and the new job's request_id. A just-published vendor may take one registry reload
 * to be known to the api: its 422 is retried (every 50 ms, 50 times at most).
 */
export async function submitJob(apiBase: string, job: { vendor: string; payload: unknown; priority?: Priority }): Promise<string> {
  for (let tries = 0; ; tries++) {
    const res = await postJson(`${apiBase}/jobs`, job);
    if (res.status === 202) return ((await res.json()) as { request_id: string }).request_id;
    if (res.status !== 422 || tries > 50) throw new Error(`POST /jobs → ${res.status}`);
    await sleep(50);
  }
}

/** Whether every one of the jobs has `status` in the store. */
export async function everyJobIs(store: JobStore, ids: readonly string[], status: string): Promise<boolean> {
  for (const id of ids) if ((await store.get(id))?.status !== status) return false;
  return true;
}

/** Polls `fn` (every 20 ms) until it gives a truthy value, and returns it; throws after the timeout. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Polls `read` (every 25 ms) until `done(value)` or the timeout, and returns the LAST value read
 * either way, so the test asserts on what it waited for (a failed wait shows the value it ended
 * with), instead of on a boolean that can only ever be true.
 */
export async function settledValue<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v) || Date.now() > deadline) return v;
    await sleep(25);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
