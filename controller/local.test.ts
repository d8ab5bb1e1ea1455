// Local mode against a real Redis and real child processes. The children are a tiny stand-in
// worker script (the real worker is tested in worker/); it records the env it was given.
import { execFileSync, spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { keys } from '../core/keys.js';
import { VendorRegistry } from '../core/registry.js';
import { useRedisServer } from '../testing/use-redis-server.js';
import { createLocalSupervisor, type LocalSupervisor } from './local.js';
import { loadPoolFiles } from './pool-files.js';
import { workerSpawner } from './worker-processes.js';

const STUB = `
import { writeFileSync } from 'node:fs';
const dir = process.argv[2] ?? process.env.STUB_DIR;
writeFileSync(dir + '/' + process.pid + '.json', JSON.stringify({ pool: process.env.VF_POOL, concurrency: process.env.VF_CONCURRENCY, redis: process.env.REDIS_URL, port: process.env.WORKER_METRICS_PORT }));
const t = setInterval(() => {}, 1000);
process.on('SIGTERM', () => { clearInterval(t); setTimeout(() => process.exit(0), 50); });
`;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const examples = path.resolve(import.meta.dirname, '../examples/vendorpools');
const logger = pino({ level: 'silent' });

const server = useRedisServer();
let dir: string;
let poolsDir: string;
let stubDir: string;
let supervisor: LocalSupervisor | undefined;

beforeEach(async () => {
  await server.redis.flushall();
  dir = await mkdtemp(path.join(os.tmpdir(), 'vf-local-'));
  poolsDir = path.join(dir, 'pools');
  stubDir = path.join(dir, 'stub');
  execFileSync('mkdir', ['-p', poolsDir, stubDir]);
  await writeFile(path.join(dir, 'worker.mjs'), STUB);
  for (const f of await readdir(examples)) await copyFile(path.join(examples, f), path.join(poolsDir, f));
});
afterEach(async () => {
  await supervisor?.stop();
  supervisor = undefined;
  await rm(dir, { recursive: true, force: true });
});

function make(overrides: Partial<Parameters<typeof createLocalSupervisor>[0]> = {}): LocalSupervisor {
  supervisor = createLocalSupervisor({
    poolsDir,
    redis: server.redis,
    registry: new VendorRegistry(server.redis),
    logger,
    tickMs: 100,
    restartDelayMs: 100,
    stopTimeoutMs: 5000,
    spawnWorker: workerSpawner({ node: process.execPath, entry: path.join(dir, 'worker.mjs'), env: { STUB_DIR: stubDir, REDIS_URL: server.url }, stdio: 'ignore' }),
    ...overrides,
  });
  return supervisor;
}

const pids = (s: LocalSupervisor, key: string): number[] => s.status().find((p) => p.key === key)?.pids ?? [];

test('the example pools parse: vendors sync and async against the mocks', async () => {
  const { pools, errors } = await loadPoolFiles(examples);
  expect(errors).toEqual([]);
  const vendors = Object.fromEntries(pools.flatMap((p) => p.spec.vendors.map((v) => [v.name, v])));
  expect(vendors.sync).toMatchObject({ mode: 'sync', url: 'http://127.0.0.1:9101/fetch', quota: { requestsPerSecond: 20, burst: 5 } });
  expect(vendors.async).toMatchObject({ mode: 'async', url: 'http://127.0.0.1:9102/fetch', webhookSecretRef: { name: 'async-webhook', key: 'secret' } });
  expect(vendors.async?.callbackTimeoutSeconds).toBeGreaterThan(0);
});

test('starts minReplicas workers per pool with their env, publishes the registry, SIGTERMs all on stop', async () => {
  const s = make();
  await s.start();
  const status = s.status();
  expect(status.map((p) => p.key).sort()).toEqual(['local/async-vendors', 'local/sync-vendors']);
  const all = status.flatMap((p) => p.pids);
  expect(all).toHaveLength(2);
  expect(all.every(alive)).toBe(true);

  const reg = await new VendorRegistry(server.redis).all();
  expect(reg.get('sync')?.pool).toBe('local/sync-vendors');
  expect(reg.get('async')?.pool).toBe('local/async-vendors');
  expect(reg.get('sync')?.spec.quota.requestsPerSecond).toBe(20);

  const seen = await until('children wrote their env', async () => {
    const files = await readdir(stubDir);
    return files.length === 2 ? files : undefined;
  });
  const envs = await Promise.all(seen.map(async (f) => JSON.parse(await readFile(path.join(stubDir, f), 'utf8')) as Record<string, string>));
  expect(envs.map((e) => e.pool).sort()).toEqual(['local/async-vendors', 'local/sync-vendors']);
  expect(envs.find((e) => e.pool === 'local/sync-vendors')).toMatchObject({ concurrency: '20', redis: server.url, port: '0' });

  await s.stop();
  expect(all.some(alive)).toBe(false);
});

test('lag scales workers up at once, down only after the stabilisation window, within min..max', async () => {
  await writeFile(
    path.join(poolsDir, 'sync.yaml'),
    (await readFile(path.join(examples, 'sync.yaml'), 'utf8')).replace('scaleDownStabilizationSeconds: 30', 'scaleDownStabilizationSeconds: 1'),
  );
  const s = make();
  await s.start();
  expect(pids(s, 'local/sync-vendors')).toHaveLength(1);
  const pipeline = server.redis.pipeline();
  for (let i = 0; i < 250; i++) pipeline.xadd(keys.stream('sync', 'normal'), '*', 'id', String(i));
  await pipeline.exec();
  await until('3 workers for lag 250', () => pids(s, 'local/sync-vendors').length === 3 || undefined);
  for (let i = 0; i < 500; i++) pipeline.xadd(keys.stream('sync', 'normal'), '*', 'id', String(i));
  await pipeline.exec();
  await until('clamped to max 4', () => pids(s, 'local/sync-vendors').length === 4 || undefined);
  await new Promise((r) => setTimeout(r, 300));
  expect(pids(s, 'local/sync-vendors')).toHaveLength(4);

  await server.redis.del(keys.stream('sync', 'normal'));
  const dropped = Date.now();
  await s.tick();
  expect(pids(s, 'local/sync-vendors')).toHaveLength(4); // held by the window
  await until('back to min 1', () => pids(s, 'local/sync-vendors').length === 1 || undefined);
  expect(Date.now() - dropped).toBeGreaterThanOrEqual(800);
});

test('a crashed worker is restarted; FLUSHALL heals the registry; a removed file stops its pool', async () => {
  const s = make();
  await s.start();
  const [victim] = pids(s, 'local/sync-vendors');
  process.kill(victim!, 'SIGKILL');
  const replacement = await until('a replacement worker', () => {
    const p = pids(s, 'local/sync-vendors');
    return p.length === 1 && p[0] !== victim ? p[0] : undefined;
  });
  expect(alive(replacement)).toBe(true);

  await server.redis.flushall();
  await until('registry re-published', async () => ((await server.redis.hlen(keys.registry)) === 2 ? true : undefined));

  const asyncPids = pids(s, 'local/async-vendors');
  await unlink(path.join(poolsDir, 'async.yaml'));
  await until('async pool gone', () => (s.status().some((p) => p.key === 'local/async-vendors') ? undefined : true));
  await until('its worker stopped', () => (asyncPids.some(alive) ? undefined : true));
  expect((await new VendorRegistry(server.redis).all()).has('async')).toBe(false);
});

test('a vendor name claimed by two files: the earlier file keeps it; an invalid file is skipped', async () => {
  await writeFile(
    path.join(poolsDir, 'zz-thief.yaml'),
    `apiVersion: vendorfetch.io/v1alpha1
kind: VendorPool
metadata: {name: thief}
spec:
  vendors:
    - {name: sync, url: "http://127.0.0.1:1/x", quota: {requestsPerSecond: 1}}
    - {name: own, url: "http://127.0.0.1:1/y", quota: {requestsPerSecond: 1}}
`,
  );
  await writeFile(path.join(poolsDir, 'bad.yaml'), 'apiVersion: vendorfetch.io/v1alpha1\nkind: VendorPool\nmetadata: {name: bad}\nspec: {vendors: []}\n');
  const s = make();
  await s.start();
  expect(s.status().find((p) => p.key === 'local/thief')?.conflicts).toEqual(['sync']);
  expect(s.status().some((p) => p.key === 'local/bad')).toBe(false);
  const reg = await new VendorRegistry(server.redis).all();
  expect(reg.get('sync')?.pool).toBe('local/sync-vendors');
  expect(reg.get('own')?.pool).toBe('local/thief');
});

test('while Redis cannot be reached the status shows no lag or conflicts, not the last ones; the workers keep running', async () => {
  await server.redis.xadd(keys.stream('sync', 'normal'), '*', 'id', '1');
  const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    const s = make({ redis: client, registry: new VendorRegistry(client) });
    await s.start();
    expect(s.status().find((p) => p.key === 'local/sync-vendors')).toMatchObject({ lag: 1, conflicts: [] });
    const before = pids(s, 'local/sync-vendors');

    client.disconnect();
    await s.tick();
    const during = s.status().find((p) => p.key === 'local/sync-vendors');
    expect(during).toMatchObject({ desired: 1, pids: before });
    expect(during?.lag).toBeUndefined();
    expect(during?.conflicts).toBeUndefined();
    expect(before.every(alive)).toBe(true);

    await client.connect();
    await s.tick();
    expect(s.status().find((p) => p.key === 'local/sync-vendors')).toMatchObject({ lag: 1, conflicts: [], pids: before });
  } finally {
    client.disconnect();
  }
});

const entry = path.resolve(import.meta.dirname, '../dist/controller/local-main.js');
const entryTest = existsSync(entry) ? test : test.skip;
if (!existsSync(entry)) console.warn(`skipping the local-main entry test: ${entry} is missing (run npm run build first)`);

entryTest('the compiled entry runs the pools and stops its children on SIGTERM', async () => {
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, REDIS_URL: server.url, VF_POOLS_DIR: poolsDir, VF_WORKER_ENTRY: path.join(dir, 'worker.mjs'), STUB_DIR: stubDir, VF_LOCAL_TICK_MS: '200', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const files = await until('two workers', async () => {
    const f = await readdir(stubDir);
    return f.length === 2 ? f : undefined;
  }, 15_000);
  const childPids = files.map((f) => Number(f.replace('.json', '')));
  expect(childPids.every(alive)).toBe(true);
  expect(out).toContain('local/sync-vendors');
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(childPids.some(alive)).toBe(false);
});

test('local mode: `paused: true` in a pool file is published to the registry (workers stop calling), removing it resumes', async () => {
  const file = path.join(poolsDir, 'sync.yaml');
  const original = await readFile(file, 'utf8');
  const paused = original.replace(/^(\s*)- name: sync$/m, '$1- name: sync\n$1  paused: true');
  expect(paused).not.toBe(original);
  await writeFile(file, paused);
  const s = make();
  await s.start();
  const registry = new VendorRegistry(server.redis);
  expect((await registry.get('sync'))?.spec.paused).toBe(true);
  expect((await registry.get('async'))?.spec.paused).toBe(false);
  // Its backlog does not scale the pool up: workers would not serve it.
  const pipeline = server.redis.pipeline();
  for (let i = 0; i < 250; i++) pipeline.xadd(keys.stream('sync', 'normal'), '*', 'id', String(i));
  await pipeline.exec();
  await s.tick();
  expect(s.status().find((p) => p.key === 'local/sync-vendors')?.lag).toBe(0);
  expect(pids(s, 'local/sync-vendors')).toHaveLength(1);
  await writeFile(file, original);
  await until('resumed in the registry', async () => ((await registry.get('sync'))?.spec.paused === false ? true : undefined));
  await until('the backlog scales the pool again', () => pids(s, 'local/sync-vendors').length === 3 || undefined);
});
