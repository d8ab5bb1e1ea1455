import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

import type { JobStore } from '../job.js';
import { describeJobStoreContract } from './contract.js';
import { createSqliteJobStore } from './sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'vf-sqlite-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
// A nested, not-yet-existing folder per store: the adapter creates it.
const freshPath = (): string => join(dir, `run-${++n}`, 'data', 'vendorfetch.db');

describeJobStoreContract('sqlite', () => createSqliteJobStore({ path: freshPath() }));

const at = (s: number): Date => new Date(Date.UTC(2026, 0, 1) + s * 1000);

describe('sqlite group commit of creates', () => {
  test('creates of one turn share a transaction; a bad one fails alone', async () => {
    const store = await createSqliteJobStore({ path: freshPath() });
    try {
      const taken = randomUUID();
      await store.create({ request_id: taken, vendor: 'v', payload: {}, deadline_at: at(1) }, at(0));
      const inputs = Array.from({ length: 50 }, (_, i) => ({
        request_id: i === 25 ? taken : randomUUID(),
        vendor: 'v',
        payload: { i },
        ...(i % 10 === 0 ? { idempotency_key: 'same' } : {}),
        deadline_at: at(1),
      }));
      const results = await Promise.allSettled(inputs.map((j) => store.create(j, at(0))));
      expect(results[25]).toMatchObject({ status: 'rejected', reason: { code: 'conflict' } });
      const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
      expect(ok).toHaveLength(49);
      expect(ok.filter((r) => r.created)).toHaveLength(49 - 4); // i = 10, 20, 30, 40 replay i = 0
      expect(ok.filter((r) => !r.created).every((r) => r.job.request_id === inputs[0]!.request_id)).toBe(true);
      expect((await store.countByStatus('v')).pending).toBe(1 + 45);
    } finally {
      await store.close();
    }
  });

  test('more creates than one batch holds are all written, in order', async () => {
    const store = await createSqliteJobStore({ path: freshPath() });
    try {
      const ids = Array.from({ length: 1200 }, () => randomUUID());
      const results = await Promise.all(ids.map((id) => store.create({ request_id: id, vendor: 'v', payload: {}, deadline_at: at(1) }, at(0))));
      expect(results.every((r) => r.created)).toBe(true);
      expect((await store.countByStatus('v')).pending).toBe(1200);
    } finally {
      await store.close();
    }
  });

  test('close() writes the creates it already accepted', async () => {
    const path = freshPath();
    const store = await createSqliteJobStore({ path });
    const id = randomUUID();
    const pending = store.create({ request_id: id, vendor: 'v', payload: { kept: true }, deadline_at: at(1) }, at(0));
    await store.close();
    await expect(pending).resolves.toMatchObject({ created: true });
    await expect(store.create({ request_id: randomUUID(), vendor: 'v', payload: {}, deadline_at: at(1) }, at(0))).rejects.toMatchObject({
      code: 'unavailable',
    });
    const reopened = await createSqliteJobStore({ path });
    try {
      expect((await reopened.get(id))?.payload).toEqual({ kept: true });
    } finally {
      await reopened.close();
    }
  });

  test('a payload that JSON cannot encode is rejected alone', async () => {
    const store = await createSqliteJobStore({ path: freshPath() });
    try {
      const cyclic: Record<string, unknown> = {};
      cyclic['self'] = cyclic;
      const [bad, good] = await Promise.allSettled([
        store.create({ request_id: randomUUID(), vendor: 'v', payload: cyclic, deadline_at: at(1) }, at(0)),
        store.create({ request_id: randomUUID(), vendor: 'v', payload: {}, deadline_at: at(1) }, at(0)),
      ]);
      expect(bad.status).toBe('rejected');
      expect(good).toMatchObject({ status: 'fulfilled', value: { created: true } });
    } finally {
      await store.close();
    }
  });
});

describe('sqlite file shared by several connections and processes', () => {
  let path: string;
  let stores: JobStore[];
  beforeEach(() => {
    path = freshPath();
    stores = [];
  });
  afterEach(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });
  const open = async (busyTimeoutMs?: number): Promise<JobStore> => {
    const s = await createSqliteJobStore(busyTimeoutMs === undefined ? { path } : { path, busyTimeoutMs });
    stores.push(s);
    return s;
  };

  test('two stores on one file see each other\'s writes, and CAS holds across them', async () => {
    const [a, b] = [await open(), await open()];
    const id = randomUUID();
    await a.create({ request_id: id, vendor: 'v', payload: { x: 1 }, idempotency_key: 'k', deadline_at: at(30) }, at(0));
    expect(await b.get(id)).toMatchObject({ status: 'pending', payload: { x: 1 } });
    const replay = await b.create({ request_id: randomUUID(), vendor: 'v', payload: {}, idempotency_key: 'k', deadline_at: at(30) }, at(1));
    expect(replay).toMatchObject({ created: false, job: { request_id: id } });

    expect(await b.startAttempt(id, at(60), at(2))).toMatchObject({ attempts: 1 });
    const wins = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).complete(id, { by: i }, at(3))),
    );
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect((await a.get(id))?.result).toEqual({ by: wins.indexOf(true) });
    expect(await a.startAttempt(id, at(90), at(4))).toBeNull();
  });

  test('the file is in WAL mode and the sweeper query reads its partial index', async () => {
    await open();
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
      // The store names the index (INDEXED BY: see sqlite.ts); SQLite refuses the query if the index could not serve it.
      const plan = db
        .prepare(
          `EXPLAIN QUERY PLAN SELECT * FROM jobs INDEXED BY jobs_unfinished_deadline WHERE status IN ('pending', 'processing') AND deadline_at < ? ORDER BY deadline_at LIMIT ?`,
        )
        .all(0, 10)
        .map((r) => String(r['detail']))
        .join('\n');
      expect(plan).toContain('jobs_unfinished_deadline');
      expect(plan).not.toContain('TEMP B-TREE');
      // The status-led index of GET /jobs must not take over the sweeper's count or retention
      // (without statistics SQLite preferred it): they read their own partial indexes.
      for (const [sql, index] of [
        [`SELECT vendor, COUNT(*) AS n FROM jobs INDEXED BY jobs_unfinished_vendor_deadline WHERE status IN ('pending', 'processing') AND deadline_at < ? GROUP BY vendor`, 'jobs_unfinished_vendor_deadline'],
        [`DELETE FROM jobs INDEXED BY jobs_completed_at WHERE completed_at < ? AND status IN ('complete', 'failed', 'cancelled')`, 'jobs_completed_at'],
      ] as const) {
        const detail = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(0).map((r) => String(r['detail'])).join('\n');
        expect(detail).toContain(index);
        expect(detail).not.toContain('TEMP B-TREE');
      }
      // GET /jobs: each filter combination reads its index in request_id order, no sort.
      for (const [where, index] of [
        ['vendor = ? AND status = ?', 'jobs_vendor_status_id'],
        ['vendor = ?', 'jobs_vendor_id'],
        ['status = ?', 'jobs_status_id'],
      ] as const) {
        const list = db
          .prepare(`EXPLAIN QUERY PLAN SELECT request_id FROM jobs WHERE request_id > ? AND ${where} AND created_at > ? ORDER BY request_id LIMIT 10`)
          .all(...(where.split('?').length === 3 ? ['', 'v', 'pending', 0] : ['', 'v', 0]))
          .map((r) => String(r['detail']))
          .join('\n');
        expect(list).toContain(index);
        expect(list).not.toContain('TEMP B-TREE');
      }
    } finally {
      db.close();
    }
  });

  test('a write waits while another process holds the write lock, instead of failing', async () => {
    const store = await open();
    const impatient = await open(20);
    const holdMs = 400;
    // Another process takes the write lock, says so, holds it for holdMs, then commits.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const { DatabaseSync } = require('node:sqlite');
         const db = new DatabaseSync(process.argv[1]);
         db.exec('PRAGMA busy_timeout = 5000');
         db.exec('BEGIN IMMEDIATE');
         db.prepare("INSERT INTO jobs (request_id, vendor, payload, status, created_at, updated_at, deadline_at) VALUES ('from-child', 'v', '{}', 'pending', 0, 0, 0)").run();
         process.stdout.write('locked\\n');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${holdMs});
         db.exec('COMMIT');
         db.close();`,
        path,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => (d.toString().includes('locked') ? resolve() : undefined));
      child.on('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
    });

    // A store whose busy_timeout is shorter than the hold gives up with a retryable `unavailable` error.
    await expect(
      impatient.create({ request_id: randomUUID(), vendor: 'v', payload: {}, deadline_at: at(1) }, at(0)),
    ).rejects.toMatchObject({ code: 'unavailable', retryable: true });

    const started = performance.now();
    const { created } = await store.create({ request_id: randomUUID(), vendor: 'v', payload: {}, deadline_at: at(1) }, at(0));
    expect(created).toBe(true);
    expect(performance.now() - started).toBeGreaterThan(holdMs / 4);
    expect(await exited).toBe(0);
    expect(await store.get('from-child')).toMatchObject({ status: 'pending' });
    expect((await store.countByStatus('v')).pending).toBe(2);
  });
});

describe('sqlite file made before `cancelled` and dead-letter replays', () => {
  // The table as earlier versions created it: its CHECK refuses 'cancelled', and it has no
  // replayed_attempts column. Opening the file must rebuild it without losing a job or an index.
  const OLD_TABLE = `CREATE TABLE jobs (
    request_id TEXT PRIMARY KEY, vendor TEXT NOT NULL, payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'complete', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0, result TEXT, error TEXT, idempotency_key TEXT,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, completed_at INTEGER, deadline_at INTEGER NOT NULL
  ) STRICT;
  CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;`;

  test('is migrated on open: jobs, keys and indexes kept; cancel and replay work', async () => {
    const path = freshPath();
    await createSqliteJobStore({ path }).then((s) => s.close()); // makes the folder
    rmSync(path);
    const old = new DatabaseSync(path);
    old.exec(OLD_TABLE);
    const insert = old.prepare(
      `INSERT INTO jobs (request_id, vendor, payload, status, attempts, error, idempotency_key, created_at, updated_at, completed_at, deadline_at)
       VALUES (?, 'v', '{"a":1}', ?, ?, ?, ?, 0, 0, ?, 60000)`,
    );
    const pending = randomUUID();
    const failed = randomUUID();
    insert.run(pending, 'pending', 0, null, 'key-1', null);
    insert.run(failed, 'failed', 2, 'vendor_error: HTTP 500', null, 5000);
    old.close();

    const store = await createSqliteJobStore({ path });
    try {
      expect(await store.get(pending)).toMatchObject({ status: 'pending', payload: { a: 1 }, idempotency_key: 'key-1' });
      expect(await store.get(pending)).not.toHaveProperty('replayed_attempts');
      expect((await store.get(pending))?.priority).toBe('normal'); // the lane it was queued in
      expect(await store.create({ request_id: randomUUID(), vendor: 'v', payload: {}, idempotency_key: 'key-1', deadline_at: at(1) }, at(0))).toMatchObject({
        created: false,
        job: { request_id: pending },
      });
      expect(await store.cancel(pending, at(1))).toBe(true);
      expect((await store.listFailed('v', 10)).map((j) => j.request_id)).toEqual([failed]);
      expect(await store.replayFailed(failed, 'v', at(600), at(1))).toBe(true);
      expect(await store.get(failed)).toMatchObject({ status: 'pending', attempts: 2, replayed_attempts: 2 });
      // The rebuilt table has every later column too: priority, callbacks, from_cache.
      const { job: hooked } = await store.create(
        { request_id: randomUUID(), vendor: 'v', payload: {}, priority: 'low', callback_url: 'https://hooks.example/x', client_id: 'c', deadline_at: at(60) },
        at(0),
      );
      expect(await store.completeFromCache(hooked.request_id, { r: 1 }, at(2), 0)).toBe(true);
      expect(await store.get(hooked.request_id)).toMatchObject({ priority: 'low', from_cache: true, callback: { state: 'pending', attempts: 0 } });
      expect((await store.findDueCallbacks(at(3), 10)).map((d) => d.request_id)).toEqual([hooked.request_id]);
    } finally {
      await store.close();
    }
    const check = new DatabaseSync(path);
    const indexes = (check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL").all() as { name: string }[]).map((r) => r.name);
    const tables = (check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
    check.close();
    expect(indexes).toEqual(expect.arrayContaining(['jobs_idempotency_key', 'jobs_unfinished_deadline', 'jobs_vendor_status_id', 'jobs_completed_at', 'jobs_callback_due']));
    expect(tables).toContain('jobs');
    expect(tables).not.toContain('jobs_migrating');
    // A second open finds the new table and changes nothing.
    await (await createSqliteJobStore({ path })).close();
  });
});

describe('sqlite file made before priorities', () => {
  test('gains the priority column on open: old jobs read as normal, new ones keep theirs, a bad value is refused', async () => {
    const path = freshPath();
    const store0 = await createSqliteJobStore({ path });
    const old = randomUUID();
    await store0.create({ request_id: old, vendor: 'v', payload: {}, deadline_at: at(60) }, at(0));
    await store0.close();
    // Back to the table as the previous version left it: no priority column.
    const db = new DatabaseSync(path);
    db.exec('ALTER TABLE jobs DROP COLUMN priority');
    db.close();

    const store = await createSqliteJobStore({ path });
    try {
      expect(await store.get(old)).toMatchObject({ status: 'pending', priority: 'normal' });
      const { job } = await store.create({ request_id: randomUUID(), vendor: 'v', payload: {}, priority: 'high', deadline_at: at(60) }, at(0));
      expect((await store.get(job.request_id))?.priority).toBe('high');
    } finally {
      await store.close();
    }
    const check = new DatabaseSync(path);
    expect(() => check.prepare("UPDATE jobs SET priority = 'urgent' WHERE request_id = ?").run(old)).toThrow(/CHECK/);
    check.close();
    await (await createSqliteJobStore({ path })).close(); // a second open changes nothing
  });
});

describe('sqlite file made by a version with only one of priorities and callbacks/result cache (or neither)', () => {
  const CALLBACK_COLUMNS = ['from_cache', 'callback_url', 'client_id', 'callback_state', 'callback_attempts', 'callback_error', 'callback_next_at', 'callback_delivered_at'];
  test.each([
    ['neither (priority and callback columns missing)', ['priority', ...CALLBACK_COLUMNS]],
    ['priorities only (callback columns missing)', CALLBACK_COLUMNS],
    ['callbacks and cache only (priority missing)', ['priority']],
  ])('%s: gains every missing column on open; old jobs keep working', async (_name, dropped) => {
    const path = freshPath();
    const store0 = await createSqliteJobStore({ path });
    const old = randomUUID();
    await store0.create({ request_id: old, vendor: 'v', payload: { a: 1 }, deadline_at: at(60) }, at(0));
    await store0.close();
    const db = new DatabaseSync(path);
    db.exec('DROP INDEX IF EXISTS jobs_callback_due');
    for (const column of dropped) db.exec(`ALTER TABLE jobs DROP COLUMN ${column}`);
    db.close();

    const store = await createSqliteJobStore({ path });
    try {
      const read = await store.get(old);
      expect(read).toMatchObject({ status: 'pending', priority: 'normal', payload: { a: 1 } });
      expect(read?.callback).toBeUndefined();
      expect(read?.from_cache).toBeUndefined();
      const { job } = await store.create(
        { request_id: randomUUID(), vendor: 'v', payload: {}, priority: 'high', callback_url: 'https://hooks.example/x', client_id: 'c', deadline_at: at(60) },
        at(0),
      );
      expect(await store.completeFromCache(job.request_id, { r: 1 }, at(2), 0)).toBe(true);
      expect(await store.get(job.request_id)).toMatchObject({ priority: 'high', from_cache: true, callback_url: 'https://hooks.example/x', callback: { state: 'pending' } });
      expect((await store.findDueCallbacks(at(3), 10)).map((d) => d.request_id)).toEqual([job.request_id]);
      expect(await store.cancel(old, at(4))).toBe(true);
    } finally {
      await store.close();
    }
    const check = new DatabaseSync(path);
    const columns = (check.prepare('PRAGMA table_info(jobs)').all() as { name: string }[]).map((r) => r.name);
    const indexes = (check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs'").all() as { name: string }[]).map((r) => r.name);
    check.close();
    expect(columns).toEqual(expect.arrayContaining(['priority', ...CALLBACK_COLUMNS]));
    expect(indexes).toContain('jobs_callback_due');
    await (await createSqliteJobStore({ path })).close(); // a second open changes nothing
  });
});
