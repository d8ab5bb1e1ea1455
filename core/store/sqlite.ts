// Embedded JobStore on Node's built-in `node:sqlite`: one file shared by the api and every
// worker process of a machine (local mode). WAL lets readers run beside one writer; every
// write is a single autocommit statement or a BEGIN IMMEDIATE batch, so a busy writer makes
// others wait (busy_timeout) instead of failing, and no transaction ever upgrades from read to
// write (the one case busy_timeout cannot help: SQLITE_BUSY_SNAPSHOT).
//
// Compare-and-set: each status change is one `UPDATE … WHERE request_id = ? AND status IN (…)`;
// SQLite serialises writers, so exactly one of several racing callers sees `changes = 1`.
//
// Group commit for create(): a commit costs far more than an insert, and the api calls
// create() once per POST /jobs. Creates issued in the same event-loop turn are written in ONE
// `BEGIN IMMEDIATE … COMMIT`; each promise resolves only after that commit, so "stored" still
// means committed. A failing insert (duplicate request_id) rejects only its own promise.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLOutputValue, type StatementSync } from 'node:sqlite';

import type {
  CallbackDelivery,
  CallbackOutcome,
  CallbackState,
  CreateOutcome,
  Job,
  JobMeta,
  JobQuery,
  JobStatus,
  JobStore,
  ListedJob,
  NewJob,
  Priority,
} from '../job.js';
import { DEFAULT_PRIORITY, JOB_STATUSES } from '../job.js';
import { duplicateRequestId, fromJsonText, storeError, toJsonText } from './codec.js';

export interface SqliteJobStoreOptions {
  /** Database file; its parent folder is created. `:memory:` works for a single process. */
  path: string;
  /** How long a write waits for another process' write lock before failing. Default 5000 ms. */
  busyTimeoutMs?: number;
  /**
   * `NORMAL` (default): in WAL mode a commit survives a crash of any process, and the last
   * commits may be lost only if the machine itself loses power — the usual WAL trade-off,
   * about 10× the insert rate of `FULL`, which fsyncs the WAL on every commit.
   */
  synchronous?: 'NORMAL' | 'FULL';
}

// STRICT: a wrong type is an error, not a silent conversion. Dates are ms since the epoch.
// `jobsTable` is also what migrateJobsTable() rebuilds an older table into.
const jobsTable = (name: string) => `
CREATE TABLE IF NOT EXISTS ${name} (
  request_id      TEXT PRIMARY KEY,
  vendor          TEXT NOT NULL,
  payload         TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'complete', 'failed', 'cancelled')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  replayed_attempts INTEGER NOT NULL DEFAULT 0,
  result          TEXT,
  error           TEXT,
  idempotency_key TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  completed_at    INTEGER,
  deadline_at     INTEGER NOT NULL,
  priority        TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('high', 'normal', 'low')),
  callback_url    TEXT,
  client_id       TEXT,
  callback_state  TEXT CHECK (callback_state IN ('pending', 'delivered', 'failed')),
  callback_attempts INTEGER NOT NULL DEFAULT 0,
  callback_error  TEXT,
  callback_next_at INTEGER,
  callback_delivered_at INTEGER,
  from_cache      INTEGER NOT NULL DEFAULT 0
) STRICT;`;

const SCHEMA = `${jobsTable('jobs')}
-- Partial indexes hold only the rows they serve, so a fresh pending job without a key costs
-- two index entries (sweeper, vendor counts) besides the primary key.
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency_key
  ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- Sweeper: unfinished jobs in deadline order. Equivalent to (status, deadline_at) for the
-- query below, but lets ORDER BY … LIMIT read the index in order without a sort.
CREATE INDEX IF NOT EXISTS jobs_unfinished_deadline
  ON jobs (deadline_at) WHERE status IN ('pending', 'processing');
-- The sweeper, per vendor: one pool's overdue jobs without wading through other vendors'.
CREATE INDEX IF NOT EXISTS jobs_unfinished_vendor_deadline
  ON jobs (vendor, deadline_at) WHERE status IN ('pending', 'processing');
-- Retention of Idempotency-Keys (by age).
CREATE INDEX IF NOT EXISTS jobs_keyed_created_at ON jobs (created_at) WHERE idempotency_key IS NOT NULL;
-- Retention of finished jobs.
CREATE INDEX IF NOT EXISTS jobs_completed_at ON jobs (completed_at) WHERE completed_at IS NOT NULL;
-- GET /jobs (listJobs): each filter combination reads one index in request_id order, so a
-- page costs its own rows whatever the table holds. (vendor, status, request_id) also answers
-- countByStatus from the index alone, which the older (vendor, status) index did: it goes.
DROP INDEX IF EXISTS jobs_vendor_status;
CREATE INDEX IF NOT EXISTS jobs_vendor_status_id ON jobs (vendor, status, request_id);
CREATE INDEX IF NOT EXISTS jobs_vendor_id ON jobs (vendor, request_id);
CREATE INDEX IF NOT EXISTS jobs_status_id ON jobs (status, request_id);
`;

/**
 * Columns added after the table's last rebuild (a table made before them gets them by ALTER
 * TABLE, in place): priorities (every existing job is normal, the lane it was queued in), the
 * result cache and completion callbacks. Each has a constant default or none, so no row is
 * rewritten.
 */
const ADDED_COLUMN_DEFS = [
  "priority TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('high', 'normal', 'low'))",
  'from_cache INTEGER NOT NULL DEFAULT 0',
  'callback_url TEXT',
  'client_id TEXT',
  "callback_state TEXT CHECK (callback_state IN ('pending', 'delivered', 'failed'))",
  'callback_attempts INTEGER NOT NULL DEFAULT 0',
  'callback_error TEXT',
  'callback_next_at INTEGER',
  'callback_delivered_at INTEGER',
];

// After the migrations (it names their columns). Holds only finished jobs whose callback is
// still due, so the sender's poll never reads the jobs that are still running.
const CALLBACK_INDEX = `CREATE INDEX IF NOT EXISTS jobs_callback_due ON jobs (callback_next_at)
  WHERE callback_state = 'pending' AND status IN ('complete', 'failed', 'cancelled');`;

const CALLBACK_COLUMNS = 'callback_url, client_id, callback_state, callback_attempts, callback_error, callback_next_at, callback_delivered_at';

const COLUMNS = `request_id, vendor, payload, status, attempts, replayed_attempts, result, error, idempotency_key, created_at, updated_at, completed_at, deadline_at, priority, from_cache, ${CALLBACK_COLUMNS}`;

/** Everything but payload and result (the sweeper's reads). */
const META_COLUMNS = `request_id, vendor, status, attempts, replayed_attempts, error, idempotency_key, created_at, updated_at, completed_at, deadline_at, priority, from_cache, ${CALLBACK_COLUMNS}`;

/** The columns a table made before `cancelled` and dead-letter replays already has. */
const COLUMNS_BEFORE_CANCEL =
  'request_id, vendor, payload, status, attempts, result, error, idempotency_key, created_at, updated_at, completed_at, deadline_at';

type Row = Record<string, SQLOutputValue>;

/** Most creates written by one transaction; the rest go in the next turn's. */
const MAX_BATCH = 512;

interface PendingCreate {
  job: NewJob;
  payload: string;
  now: number;
  resolve: (r: { job: Job; created: boolean }) => void;
  reject: (e: unknown) => void;
}

function rowToJob(row: Row): Job {
  const job: Job = { ...rowToMeta(row), payload: fromJsonText(row['payload'] as string) };
  if (row['result'] != null) job.result = fromJsonText(row['result'] as string);
  return job;
}

function rowToMeta(row: Row): JobMeta {
  const job: JobMeta = {
    request_id: row['request_id'] as string,
    vendor: row['vendor'] as string,
    priority: (row['priority'] as Priority | null) ?? DEFAULT_PRIORITY,
    status: row['status'] as JobStatus,
    attempts: row['attempts'] as number,
    created_at: new Date(row['created_at'] as number),
    updated_at: new Date(row['updated_at'] as number),
    deadline_at: new Date(row['deadline_at'] as number),
  };
  const replayed = Number(row['replayed_attempts'] ?? 0);
  if (replayed > 0) job.replayed_attempts = replayed;
  if (row['error'] != null) job.error = row['error'] as string;
  if (row['idempotency_key'] != null) job.idempotency_key = row['idempotency_key'] as string;
  if (row['completed_at'] != null) job.completed_at = new Date(row['completed_at'] as number);
  if (Number(row['from_cache'] ?? 0) === 1) job.from_cache = true;
  if (row['callback_url'] != null) job.callback_url = row['callback_url'] as string;
  if (row['client_id'] != null) job.client_id = row['client_id'] as string;
  if (row['callback_state'] != null) {
    const cb: CallbackDelivery = {
      state: row['callback_state'] as CallbackState,
      attempts: Number(row['callback_attempts'] ?? 0),
      next_at: new Date(Number(row['callback_next_at'] ?? 0)),
    };
    if (row['callback_error'] != null) cb.last_error = row['callback_error'] as string;
    if (row['callback_delivered_at'] != null) cb.delivered_at = new Date(row['callback_delivered_at'] as number);
    job.callback = cb;
  }
  return job;
}

/** Open (creating if needed) the database file and its schema. */
export async function createSqliteJobStore(opts: SqliteJobStoreOptions): Promise<JobStore> {
  const store = new SqliteJobStore(opts);
  await store.init();
  return store;
}

class SqliteJobStore implements JobStore {
  private readonly db: DatabaseSync;
  private readonly opts: SqliteJobStoreOptions;
  // Prepared once in init(), reused by every call.
  private stmts!: ReturnType<SqliteJobStore['prepare']>;
  private closed = false;
  private pendingCreates: PendingCreate[] = [];
  private flushScheduled = false;
  /** listJobs' statements, one per filter combination, prepared on first use. */
  private readonly listStmts = new Map<string, StatementSync>();

  constructor(opts: SqliteJobStoreOptions) {
    this.opts = opts;
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new DatabaseSync(opts.path);
  }

  async init(): Promise<void> {
    try {
      // busy_timeout first: switching to WAL and creating the schema take locks that another
      // process opening the same file at the same moment may hold.
      this.db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(this.opts.busyTimeoutMs ?? 5000))}`);
      this.db.exec('PRAGMA journal_mode = WAL');
      this.db.exec(`PRAGMA synchronous = ${this.opts.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
      // After a burst, truncate the WAL back to 64 MiB at the next checkpoint instead of
      // keeping the high-water mark on disk.
      this.db.exec('PRAGMA journal_size_limit = 67108864');
      this.db.exec(SCHEMA);
      this.migrateJobsTable();
      this.addMissingColumns();
      this.db.exec(CALLBACK_INDEX);
      this.stmts = this.prepare();
    } catch (e) {
      this.db.close();
      throw storeError(e);
    }
  }

  /**
   * A database made before `cancelled` existed has a CHECK that refuses it and no
   * replayed_attempts column. SQLite cannot change a CHECK in place, so the table is rebuilt
   * (the documented 12-step way, in one IMMEDIATE transaction; the indexes come back from
   * SCHEMA). Another process opening the file at the same time waits for the lock and then
   * finds the new table: the check is repeated inside the transaction.
   */
  private migrateJobsTable(): void {
    const current = () =>
      (this.db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").get() as Row | undefined)?.['sql'];
    const isCurrent = () => String(current() ?? '').includes('replayed_attempts');
    if (isCurrent()) return;
    this.db.exec('BEGIN IMMEDIATE');
    try {
      if (!isCurrent()) {
        this.db.exec(`DROP TABLE IF EXISTS jobs_migrating; ${jobsTable('jobs_migrating')}`);
        this.db.exec(`INSERT INTO jobs_migrating (${COLUMNS_BEFORE_CANCEL}) SELECT ${COLUMNS_BEFORE_CANCEL} FROM jobs`);
        this.db.exec('DROP TABLE jobs; ALTER TABLE jobs_migrating RENAME TO jobs');
        this.db.exec(SCHEMA);
      }
      this.db.exec('COMMIT');
    } catch (e) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }

  /**
   * A table made before priorities, the result cache or completion callbacks lacks their
   * columns (ADDED_COLUMN_DEFS): ALTER TABLE adds them in place (cheap: no rewrite). A
   * concurrent opener that added one first makes ours fail with "duplicate column", so the
   * check is repeated under the write lock. (A table older than `cancelled` was rebuilt by
   * migrateJobsTable just before, with every column: nothing is missing then.)
   */
  private addMissingColumns(): void {
    const missing = () => {
      const have = new Set((this.db.prepare('PRAGMA table_info(jobs)').all() as Row[]).map((r) => r['name'] as string));
      return ADDED_COLUMN_DEFS.filter((def) => !have.has(def.split(' ')[0]!));
    };
    if (missing().length === 0) return;
    this.db.exec('BEGIN IMMEDIATE');
    try {
      // Repeated inside the lock: another process may have added them meanwhile.
      for (const def of missing()) this.db.exec(`ALTER TABLE jobs ADD COLUMN ${def}`);
      this.db.exec('COMMIT');
    } catch (e) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }

  private prepare() {
    const db = this.db;
    return {
      insert: db.prepare(
        `INSERT INTO jobs (request_id, vendor, payload, status, attempts, idempotency_key, created_at, updated_at, deadline_at, priority,
                           callback_url, client_id, callback_state, callback_next_at)
         VALUES (?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`,
      ),
      byKey: db.prepare(`SELECT ${COLUMNS} FROM jobs WHERE idempotency_key = ?`),
      get: db.prepare(`SELECT ${COLUMNS} FROM jobs WHERE request_id = ?`),
      delete: db.prepare('DELETE FROM jobs WHERE request_id = ?'),
      startAttempt: db.prepare(
        `UPDATE jobs SET status = 'processing', attempts = attempts + 1, deadline_at = ?, updated_at = ?
         WHERE request_id = ? AND status IN ('pending', 'processing') AND (? IS NULL OR attempts = ?) RETURNING ${COLUMNS}`,
      ),
      // `(? IS NULL OR attempts = ?)`: the attempt fence (see JobStore), bound twice.
      releaseForRetry: db.prepare(
        `UPDATE jobs SET status = 'pending', error = ?, deadline_at = ?, updated_at = ?
         WHERE request_id = ? AND status = 'processing' AND (? IS NULL OR attempts = ?)`,
      ),
      // A completed job keeps no error from earlier attempts: status and error never disagree.
      complete: db.prepare(
        `UPDATE jobs SET status = 'complete', result = ?, error = NULL, completed_at = ?, updated_at = ?
         WHERE request_id = ? AND status = 'processing' AND (? IS NULL OR attempts = ?)`,
      ),
      completeByCallback: db.prepare(
        `UPDATE jobs SET status = 'complete', result = ?, error = NULL, completed_at = ?, updated_at = ?
         WHERE request_id = ? AND status IN ('pending', 'processing') AND attempts >= 1`,
      ),
      completeFromCache: db.prepare(
        `UPDATE jobs SET status = 'complete', result = ?, error = NULL, from_cache = 1, completed_at = ?, updated_at = ?
         WHERE request_id = ? AND status IN ('pending', 'processing') AND attempts = ?`,
      ),
      fail: db.prepare(
        `UPDATE jobs SET status = 'failed', error = ?, completed_at = ?, updated_at = ?
         WHERE request_id = ? AND status IN ('pending', 'processing') AND (? IS NULL OR attempts = ?)`,
      ),
      // No attempt fence: a cancel wins over whatever attempt runs (see JobStore.cancel).
      cancel: db.prepare(
        `UPDATE jobs SET status = 'cancelled', completed_at = ?, updated_at = ?
         WHERE request_id = ? AND status IN ('pending', 'processing')`,
      ),
      // jobs_vendor_status narrows to the vendor's failed jobs; they are few, the sort is cheap.
      listFailed: db.prepare(
        `SELECT ${META_COLUMNS} FROM jobs WHERE vendor = ? AND status = 'failed' AND request_id > ?
         ORDER BY request_id LIMIT ?`,
      ),
      // attempts stays (the fence); the budget restarts from here (see Job.replayed_attempts).
      replayFailed: db.prepare(
        `UPDATE jobs SET status = 'pending', replayed_attempts = attempts, completed_at = NULL, deadline_at = ?, updated_at = ?
         WHERE request_id = ? AND vendor = ? AND status = 'failed'`,
      ),
      setDeadline: db.prepare(
        `UPDATE jobs SET deadline_at = ?, updated_at = ?
         WHERE request_id = ? AND status = ? AND status IN ('pending', 'processing') AND (? IS NULL OR attempts = ?)`,
      ),
      // The WHERE repeats the partial index's condition word for word, so SQLite can use it;
      // INDEXED BY makes it: without statistics the planner preferred jobs_status_id (GET /jobs)
      // for `status IN (…)` and then sorted every unfinished job.
      findOverdue: db.prepare(
        `SELECT ${META_COLUMNS} FROM jobs INDEXED BY jobs_unfinished_deadline WHERE status IN ('pending', 'processing') AND deadline_at < ?
         ORDER BY deadline_at LIMIT ?`,
      ),
      findOverdueOfVendor: db.prepare(
        `SELECT ${META_COLUMNS} FROM jobs INDEXED BY jobs_unfinished_vendor_deadline WHERE status IN ('pending', 'processing') AND vendor = ? AND deadline_at < ?
         ORDER BY deadline_at LIMIT ?`,
      ),
      // INDEXED BY here and below for the same reason as findOverdue: jobs_status_id would win
      // the planner's guess and read every unfinished (or finished) job through the table.
      countOverdueByVendor: db.prepare(
        `SELECT vendor, COUNT(*) AS n FROM jobs INDEXED BY jobs_unfinished_vendor_deadline WHERE status IN ('pending', 'processing') AND deadline_at < ? GROUP BY vendor`,
      ),
      expireIdempotencyKeys: db.prepare(
        'UPDATE jobs SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL AND created_at < ?',
      ),
      deleteFinishedBefore: db.prepare(
        `DELETE FROM jobs INDEXED BY jobs_completed_at WHERE completed_at < ? AND status IN ('complete', 'failed', 'cancelled')`,
      ),
      countByStatus: db.prepare('SELECT status, COUNT(*) AS n FROM jobs WHERE vendor = ? GROUP BY status'),
      // The WHERE repeats jobs_callback_due's condition word for word, so SQLite uses it.
      findDueCallbacks: db.prepare(
        `SELECT request_id, callback_attempts FROM jobs
         WHERE callback_state = 'pending' AND status IN ('complete', 'failed', 'cancelled') AND callback_next_at <= ?
         ORDER BY callback_next_at LIMIT ?`,
      ),
      claimCallback: db.prepare(
        `UPDATE jobs SET callback_attempts = callback_attempts + 1, callback_next_at = ?
         WHERE request_id = ? AND callback_state = 'pending' AND status IN ('complete', 'failed', 'cancelled')
           AND callback_attempts = ? AND callback_next_at <= ? RETURNING ${COLUMNS}`,
      ),
      settleCallback: db.prepare(
        `UPDATE jobs SET callback_state = ?, callback_error = ?, callback_next_at = COALESCE(?, callback_next_at), callback_delivered_at = ?
         WHERE request_id = ? AND callback_state = 'pending' AND callback_attempts = ?`,
      ),
      ping: db.prepare('SELECT 1'),
      // IMMEDIATE takes the write lock up front (waiting up to busy_timeout), so no statement
      // inside the batch can meet SQLITE_BUSY halfway.
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
    } satisfies Record<string, StatementSync>;
  }

  create(job: NewJob, now: Date): Promise<{ job: Job; created: boolean }> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(storeError(new Error('job store is closed')));
      // Serialise now, so a payload JSON cannot encode fails alone and at once.
      let payload: string;
      try {
        payload = toJsonText(job.payload);
      } catch (e) {
        return reject(e);
      }
      this.pendingCreates.push({ job, payload, now: now.getTime(), resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate runs after this turn's I/O callbacks: every request that arrived with this
    // one joins the same transaction, and none waits longer than one loop turn.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushCreates();
    });
  }

  /** Write up to MAX_BATCH pending creates in one transaction, then settle their promises. */
  private flushCreates(): void {
    const batch = this.pendingCreates.splice(0, MAX_BATCH);
    if (this.pendingCreates.length > 0) this.scheduleFlush();
    if (batch.length === 0) return;
    const outcomes: Array<{ ok: { job: Job; created: boolean } } | { err: unknown }> = [];
    try {
      this.stmts.begin.run();
      for (const item of batch) {
        try {
          outcomes.push({ ok: this.insertOne(item) });
        } catch (e) {
          // A constraint error undoes only its statement; anything that ended the transaction
          // (I/O error, full disk) fails the whole batch below.
          if (!this.db.isTransaction) throw e;
          outcomes.push({ err: e });
        }
      }
      this.stmts.commit.run();
    } catch (e) {
      if (this.db.isOpen && this.db.isTransaction) this.stmts.rollback.run();
      for (const item of batch) item.reject(storeError(e));
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if ('ok' in outcome) item.resolve(outcome.ok);
      else item.reject(isPrimaryKeyViolation(outcome.err) ? duplicateRequestId(item.job.request_id) : storeError(outcome.err));
    });
  }

  /** One insert inside the batch transaction: the new job, or the one already holding the key. */
  private insertOne({ job, payload, now }: Pick<PendingCreate, 'job' | 'payload' | 'now'>): { job: Job; created: boolean } {
    const key = job.idempotency_key ?? null;
    const priority = job.priority ?? DEFAULT_PRIORITY;
    const cbUrl = job.callback_url ?? null;
    const res = this.stmts.insert.run(
      job.request_id, job.vendor, payload, key, now, now, job.deadline_at.getTime(), priority,
      cbUrl, job.client_id ?? null, cbUrl === null ? null : 'pending', cbUrl === null ? null : 0,
    );
    if (res.changes === 1) {
      const created: Job = {
        request_id: job.request_id,
        vendor: job.vendor,
        priority,
        // The caller's own value: re-parsing what we just encoded would only cost time.
        payload: job.payload ?? null,
        status: 'pending',
        attempts: 0,
        created_at: new Date(now),
        updated_at: new Date(now),
        deadline_at: new Date(job.deadline_at.getTime()),
      };
      if (key !== null) created.idempotency_key = key;
      if (job.client_id !== undefined) created.client_id = job.client_id;
      if (cbUrl !== null) {
        created.callback_url = cbUrl;
        created.callback = { state: 'pending', attempts: 0, next_at: new Date(0) };
      }
      return { job: created, created: true };
    }
    // The key is taken; inside our write transaction its job cannot vanish before we read it.
    const existing = this.stmts.byKey.get(key) as Row | undefined;
    if (!existing) throw new Error('idempotency key conflict without a holder');
    return { job: rowToJob(existing), created: false };
  }

  async createMany(jobs: readonly NewJob[], now: Date): Promise<CreateOutcome[]> {
    if (this.closed) throw storeError(new Error('job store is closed'));
    const t = now.getTime();
    const outcomes: CreateOutcome[] = [];
    // Synchronous from BEGIN to COMMIT: no other call of this process can interleave, and the
    // group commit of create() runs its own transaction before or after this one.
    try {
      this.stmts.begin.run();
      for (const job of jobs) {
        let payload: string;
        try {
          payload = toJsonText(job.payload);
        } catch (e) {
          outcomes.push({ ok: false, error: e });
          continue;
        }
        try {
          outcomes.push({ ok: true, ...this.insertOne({ job, payload, now: t }) });
        } catch (e) {
          if (!this.db.isTransaction) throw e; // the transaction itself ended: all fail
          outcomes.push({ ok: false, error: isPrimaryKeyViolation(e) ? duplicateRequestId(job.request_id) : storeError(e) });
        }
      }
      this.stmts.commit.run();
    } catch (e) {
      if (this.db.isOpen && this.db.isTransaction) this.stmts.rollback.run();
      throw storeError(e);
    }
    return outcomes;
  }

  async listJobs(q: JobQuery): Promise<ListedJob[]> {
    const n = Math.max(0, Math.floor(q.limit));
    if (n === 0) return [];
    return this.guard(() => {
      const where = ['request_id > ?'];
      const args: Array<string | number> = [q.afterRequestId ?? ''];
      if (q.vendor !== undefined) (where.push('vendor = ?'), args.push(q.vendor));
      if (q.status !== undefined) (where.push('status = ?'), args.push(q.status));
      if (q.createdAfter !== undefined) (where.push('created_at > ?'), args.push(q.createdAfter.getTime()));
      const cols = q.withPayload ? COLUMNS : META_COLUMNS;
      const sql = `SELECT ${cols} FROM jobs WHERE ${where.join(' AND ')} ORDER BY request_id LIMIT ?`;
      let stmt = this.listStmts.get(sql);
      if (stmt === undefined) this.listStmts.set(sql, (stmt = this.db.prepare(sql)));
      const rows = stmt.all(...args, n) as Row[];
      return rows.map(q.withPayload ? rowToJob : rowToMeta);
    });
  }

  async get(requestId: string): Promise<Job | null> {
    return this.guard(() => {
      const row = this.stmts.get.get(requestId) as Row | undefined;
      return row ? rowToJob(row) : null;
    });
  }

  async delete(requestId: string): Promise<boolean> {
    return this.guard(() => this.stmts.delete.run(requestId).changes === 1);
  }

  async startAttempt(requestId: string, deadline: Date, now: Date, expectedAttempts?: number): Promise<Job | null> {
    const a = expectedAttempts ?? null;
    return this.guard(() => {
      const row = this.stmts.startAttempt.get(deadline.getTime(), now.getTime(), requestId, a, a) as Row | undefined;
      return row ? rowToJob(row) : null;
    });
  }

  async releaseForRetry(requestId: string, error: string, deadline: Date, now: Date, attempt?: number): Promise<boolean> {
    const a = attempt ?? null;
    return this.guard(
      () => this.stmts.releaseForRetry.run(error, deadline.getTime(), now.getTime(), requestId, a, a).changes === 1,
    );
  }

  async complete(requestId: string, result: unknown, now: Date, attempt?: number): Promise<boolean> {
    const a = attempt ?? null;
    return this.guard(() => {
      const t = now.getTime();
      return this.stmts.complete.run(toJsonText(result), t, t, requestId, a, a).changes === 1;
    });
  }

  async completeByCallback(requestId: string, result: unknown, now: Date): Promise<boolean> {
    return this.guard(() => {
      const t = now.getTime();
      return this.stmts.completeByCallback.run(toJsonText(result), t, t, requestId).changes === 1;
    });
  }

  async completeFromCache(requestId: string, result: unknown, now: Date, expectedAttempts: number): Promise<boolean> {
    return this.guard(() => {
      const t = now.getTime();
      return this.stmts.completeFromCache.run(toJsonText(result), t, t, requestId, expectedAttempts).changes === 1;
    });
  }

  async fail(requestId: string, error: string, now: Date, attempt?: number): Promise<boolean> {
    const a = attempt ?? null;
    return this.guard(() => {
      const t = now.getTime();
      return this.stmts.fail.run(error, t, t, requestId, a, a).changes === 1;
    });
  }

  async cancel(requestId: string, now: Date): Promise<boolean> {
    return this.guard(() => {
      const t = now.getTime();
      return this.stmts.cancel.run(t, t, requestId).changes === 1;
    });
  }

  async listFailed(vendor: string, limit: number, afterRequestId?: string): Promise<JobMeta[]> {
    return this.guard(() => {
      const n = Math.max(0, Math.floor(limit));
      // '' sorts before every id: no cursor means from the start.
      return (this.stmts.listFailed.all(vendor, afterRequestId ?? '', n) as Row[]).map(rowToMeta);
    });
  }

  async replayFailed(requestId: string, vendor: string, deadline: Date, now: Date): Promise<boolean> {
    return this.guard(() => this.stmts.replayFailed.run(deadline.getTime(), now.getTime(), requestId, vendor).changes === 1);
  }

  async setDeadline(requestId: string, status: JobStatus, deadline: Date, now: Date, attempt?: number): Promise<boolean> {
    const a = attempt ?? null;
    return this.guard(
      () => this.stmts.setDeadline.run(deadline.getTime(), now.getTime(), requestId, status, a, a).changes === 1,
    );
  }

  async findOverdue(now: Date, limit: number, vendor?: string): Promise<JobMeta[]> {
    return this.guard(() => {
      const n = Math.max(0, Math.floor(limit));
      const rows = vendor === undefined ? this.stmts.findOverdue.all(now.getTime(), n) : this.stmts.findOverdueOfVendor.all(vendor, now.getTime(), n);
      return (rows as Row[]).map(rowToMeta);
    });
  }

  async countOverdueByVendor(now: Date): Promise<Map<string, number>> {
    return this.guard(
      () => new Map((this.stmts.countOverdueByVendor.all(now.getTime()) as Row[]).map((r) => [r['vendor'] as string, Number(r['n'])])),
    );
  }

  async expireIdempotencyKeys(cutoff: Date): Promise<number> {
    return this.guard(() => Number(this.stmts.expireIdempotencyKeys.run(cutoff.getTime()).changes));
  }

  async deleteFinishedBefore(cutoff: Date): Promise<number> {
    return this.guard(() => Number(this.stmts.deleteFinishedBefore.run(cutoff.getTime()).changes));
  }

  async countByStatus(vendor: string): Promise<Record<JobStatus, number>> {
    return this.guard(() => {
      const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
      for (const row of this.stmts.countByStatus.all(vendor) as Row[]) {
        counts[row['status'] as JobStatus] = row['n'] as number;
      }
      return counts;
    });
  }

  async findDueCallbacks(now: Date, limit: number): Promise<Array<{ request_id: string; attempts: number }>> {
    return this.guard(() =>
      (this.stmts.findDueCallbacks.all(now.getTime(), Math.max(0, Math.floor(limit))) as Row[]).map((r) => ({
        request_id: r['request_id'] as string,
        attempts: Number(r['callback_attempts']),
      })),
    );
  }

  async claimCallback(requestId: string, attempts: number, leaseUntil: Date, now: Date): Promise<Job | null> {
    return this.guard(() => {
      const row = this.stmts.claimCallback.get(leaseUntil.getTime(), requestId, attempts, now.getTime()) as Row | undefined;
      return row ? rowToJob(row) : null;
    });
  }

  async settleCallback(requestId: string, attempt: number, outcome: CallbackOutcome, now: Date): Promise<boolean> {
    const error = outcome.state === 'delivered' ? null : outcome.error;
    const nextAt = outcome.state === 'pending' ? outcome.nextAt.getTime() : null;
    const deliveredAt = outcome.state === 'delivered' ? now.getTime() : null;
    return this.guard(() => this.stmts.settleCallback.run(outcome.state, error, nextAt, deliveredAt, requestId, attempt).changes === 1);
  }

  async ping(): Promise<void> {
    this.guard(() => this.stmts.ping.get());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Creates already accepted still get written (and settled) before the file closes.
    while (this.pendingCreates.length > 0) this.flushCreates();
    try {
      // SQLite's advice for connections that ran a while; never wait for a lock to do it.
      this.db.exec('PRAGMA busy_timeout = 0; PRAGMA optimize');
    } catch {
      // best effort: another process may hold the lock; closing matters more
    }
    this.db.close();
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw storeError(e);
    }
  }
}

/** SQLITE_CONSTRAINT_PRIMARYKEY (1555): the request_id is taken (the idempotency key is not). */
function isPrimaryKeyViolation(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { errcode?: unknown }).errcode === 1555;
}
