// Production JobStore on MongoDB (official driver). Collection `jobs`, `_id` = request_id.
//
// Compare-and-set: every status change is ONE single-document write whose filter names the
// statuses it may start from (findOneAndUpdate when the caller needs the job back, updateOne
// when a boolean will do — one round trip either way). MongoDB applies a single-document
// update atomically, so of several racing callers exactly one matches.
//
// Kept to what MongoDB-wire servers without MongoDB's extras also speak (FerretDB v1): no
// transactions, change streams, arrayFilters, $lookup, partial/sparse indexes; TTL is optional.
// FerretDB v1 applies an update as "read the document, write it back" without a lock (FerretDB
// issue #3040): there two racing writers to ONE job could both succeed, or one undo the other.
// `usesNonAtomicUpdates()` detects such a server, and then every status change claims the job's
// version first (version-claims.ts); MongoDB and FerretDB v2 need no claims.
//
// Every operation has a deadline (operationTimeoutMs): a store that stops answering makes its
// callers fail with `unavailable` (503) within it, instead of holding them.
//
// Group commit for create(), as the SQLite store does: the api calls create() once per
// POST /jobs, and one round trip per job capped ingest at a few hundred per second. The new
// jobs of one event-loop turn go out as ONE unordered insertMany (at most insertBatchMax
// documents each), and while insertsInFlight commands are on the wire the next ones gather
// until one returns — a server that takes one writer at a time (FerretDB on SQLite) gets a few
// large commands instead of a crowd of small ones. Each create() resolves only once the server
// acknowledged its command under the write concern, so "stored" still means stored, and
// answers within operationTimeoutMs, waiting included. A document's own failure — its
// Idempotency-Key or request_id already taken — is reported per document by an unordered
// insert and fails (or takes the duplicate path of) only its own create(); a failure of the
// command itself (server gone, deadline, write concern not met) fails the whole batch.

import { MongoBulkWriteError, MongoClient, MongoServerError, type Collection, type Db, type Document, type WriteError } from 'mongodb';

import { batchPerTurn } from '../batch.js';
import type { CallbackOutcome, CreateOutcome, Job, JobMeta, JobQuery, JobStatus, JobStore, ListedJob, NewJob, Priority } from '../job.js';
import { DEFAULT_PRIORITY, FINISHED_STATUSES, JOB_STATUSES } from '../job.js';
import type { Logger } from '../logger.js';
import { duplicateRequestId, fromJsonText, storeError, toJsonText } from './codec.js';
import { forWrite, timeLimit, type Deadline } from './deadline.js';
import { deleteClaimsBefore, versionedUpdate, type ClaimDoc, type Docs, type VersionedUpdate } from './version-claims.js';

export interface MongoJobStoreOptions {
  url: string;
  /** Database name. Default: the one in the URL's path, else `vendorfetch`. */
  dbName?: string;
  /**
   * Try a TTL index that lets the server itself delete finished jobs this long after they
   * finished. Servers without TTL indexes get a plain index instead (logged); retention then
   * relies on deleteFinishedBefore, which works everywhere. Default: no TTL, plain index.
   */
  retentionSeconds?: number;
  /** How long an operation waits for a reachable server before failing (503). Default 5000 ms. */
  serverSelectionTimeoutMs?: number;
  /**
   * How long one operation may take in all — finding a server, a connection, the answer —
   * before it is aborted and fails (503). Why: a server that keeps its connections open but no
   * longer answers (frozen, partitioned) held every caller for 45 s and more (the driver sets no
   * socket timeout, and its own `timeoutMS` has no effect since v7); callers must hear
   * "unavailable" instead: a POST its 503, a webhook a non-2xx so that the vendor delivers it
   * again. Retention's batch deletes get ten times as long. Default 5000 ms.
   */
  operationTimeoutMs?: number;
  /**
   * Write concern of every write: `majority` (default) — a job is acknowledged only once a
   * majority of the replica set holds it, so a failover cannot lose an accepted job — or a
   * number of members (1: the primary alone; faster, and a failover may roll the last writes
   * back). Overrides a `w` in the URL. 0 (unacknowledged) is refused: a 202 must mean stored.
   */
  writeConcern?: MongoWriteConcern;
  /**
   * Most new jobs one insert command carries (group commit); a turn with more sends several.
   * Default 100 (DEFAULT_INSERT_BATCH); 1 = one insert per job. A command abandoned at its
   * deadline may still run on the server: the api has answered 503 for every job in it, and a
   * job that lands anyway is pending without a queue entry until the sweeper queues it (its
   * pending timeout) — never stranded, and run once (e2e/faults/store-outage, api-crash).
   */
  insertBatchMax?: number;
  /**
   * Insert commands on the wire at once; new jobs arriving meanwhile wait for the next one.
   * Default with group commit 2 (without it, unbounded): on FerretDB v1 (one SQLite writer) 1–2 gave about 3× the throughput of
   * unbounded per-turn commands; a replica set can overlap a few. Raise it for MongoDB if
   * the insert latency (w: majority) rather than the server is the bound.
   */
  insertsInFlight?: number;
  logger?: Pick<Logger, 'warn' | 'info'>;
}

export type MongoWriteConcern = 'majority' | number;

/** Group commit's default batch: most new jobs per insert command (VF_MONGODB_INSERT_BATCH). */
export const DEFAULT_INSERT_BATCH = 100;

const UNFINISHED: JobStatus[] = ['pending', 'processing'];
/** The attempt fence of JobStore's writes: only while `attempts` still equals the caller's. */
const fence = (attempt: number | undefined) => (attempt === undefined ? {} : { attempts: attempt });
const FINISHED: JobStatus[] = [...FINISHED_STATUSES];
/** POST /jobs/batch's one insertMany (up to 1,000 jobs): its deadline is this many operations'. */
const BATCH_TIMEOUT_FACTOR = 3;
/** Retention's batch deletes may touch many documents: their deadline is this many operations'. */
const BULK_TIMEOUT_FACTOR = 10;
/** A version claim this many operation deadlines old is stale: its writer died (version-claims.ts). */
const CLAIM_STALE_FACTOR = 3;
/**
 * A payload this long may exceed the server's 16 MiB document limit once UTF-8 encoded; the
 * driver then refuses the whole insert command, so such a job goes in a batch of its own.
 */
const OWN_BATCH_PAYLOAD_CHARS = 4 * 1024 * 1024;

/**
 * The stored document. Two choices a reader may question:
 * - `payload_json`/`result_json` are JSON text, not sub-documents: vendor payloads may carry
 *   keys with '.' or a leading '$', which MongoDB-wire servers refuse (FerretDB) or handle
 *   only partly (MongoDB's query language), and nobody queries inside them. It also spares the
 *   server the nested-document work on the hot insert path.
 * - `idem` carries the unique index. Without partial/sparse indexes, jobs without an
 *   Idempotency-Key still need a distinct value: `r:<request_id>` for those, `k:<key>` for
 *   keyed ones. The prefixes keep a client's key from ever colliding with another job's id.
 */
interface JobDoc {
  _id: string;
  vendor: string;
  /** Job.priority; absent on jobs stored before priorities existed (read as DEFAULT_PRIORITY). */
  priority?: Priority;
  payload_json: string;
  status: JobStatus;
  attempts: number;
  /** Set by a dead-letter replay (Job.replayed_attempts); absent on jobs never replayed. */
  replayed_attempts?: number;
  result_json?: string;
  error?: string;
  idem: string;
  created_at: Date;
  updated_at: Date;
  completed_at?: Date;
  deadline_at: Date;
  /** Completed from the result cache (Job.from_cache); absent otherwise. */
  from_cache?: true;
  /** Completion callback (Job.callback_url, Job.callback); absent on jobs without one. */
  callback_url?: string;
  client_id?: string;
  callback_state?: 'pending' | 'delivered' | 'failed';
  callback_attempts?: number;
  callback_error?: string;
  callback_next_at?: Date;
  callback_delivered_at?: Date;
}

/** The document of a new pending job (create and createMany): its priority, and its callback if it has one. */
function newDoc(job: NewJob, now: Date): JobDoc {
  const doc: JobDoc = {
    _id: job.request_id,
    vendor: job.vendor,
    priority: job.priority ?? DEFAULT_PRIORITY,
    payload_json: toJsonText(job.payload),
    status: 'pending',
    attempts: 0,
    idem: idemOf(job),
    created_at: now,
    updated_at: now,
    deadline_at: job.deadline_at,
  };
  if (job.client_id !== undefined) doc.client_id = job.client_id;
  if (job.callback_url !== undefined) {
    Object.assign(doc, { callback_url: job.callback_url, callback_state: 'pending', callback_attempts: 0, callback_next_at: new Date(0) });
  }
  return doc;
}

const idemOf = (job: NewJob): string =>
  job.idempotency_key === undefined ? `r:${job.request_id}` : `k:${job.idempotency_key}`;

function docToJob(doc: JobDoc): Job {
  return { ...docToJobMeta(doc), payload: fromJsonText(doc.payload_json) };
}

/** Everything but the payload (parsing it is the costly part, and create() already has it). */
function docToJobMeta(doc: JobDoc): Omit<Job, 'payload'> {
  const job: Omit<Job, 'payload'> = {
    request_id: doc._id,
    vendor: doc.vendor,
    priority: doc.priority ?? DEFAULT_PRIORITY,
    status: doc.status,
    attempts: doc.attempts,
    created_at: doc.created_at,
    updated_at: doc.updated_at,
    deadline_at: doc.deadline_at,
  };
  if (doc.result_json !== undefined && doc.result_json !== null) job.result = fromJsonText(doc.result_json);
  if (typeof doc.replayed_attempts === 'number' && doc.replayed_attempts > 0) job.replayed_attempts = doc.replayed_attempts;
  if (doc.error !== undefined && doc.error !== null) job.error = doc.error;
  if (doc.idem.startsWith('k:')) job.idempotency_key = doc.idem.slice(2);
  if (doc.completed_at instanceof Date) job.completed_at = doc.completed_at;
  if (doc.from_cache === true) job.from_cache = true;
  if (typeof doc.callback_url === 'string') job.callback_url = doc.callback_url;
  if (typeof doc.client_id === 'string') job.client_id = doc.client_id;
  if (typeof doc.callback_state === 'string') {
    job.callback = { state: doc.callback_state, attempts: doc.callback_attempts ?? 0, next_at: doc.callback_next_at ?? new Date(0) };
    if (typeof doc.callback_error === 'string') job.callback.last_error = doc.callback_error;
    if (doc.callback_delivered_at instanceof Date) job.callback.delivered_at = doc.callback_delivered_at;
  }
  return job;
}

/** The database named in a mongodb:// URL's path, if any (works for multi-host URLs too). */
export function dbNameFromUrl(url: string): string | undefined {
  const afterScheme = url.replace(/^mongodb(\+srv)?:\/\//, '');
  const slash = afterScheme.indexOf('/');
  if (slash < 0) return undefined;
  const name = decodeURIComponent(afterScheme.slice(slash + 1).split('?')[0] ?? '');
  return name === '' ? undefined : name;
}

/**
 * True for servers that apply updates as an unlocked read-modify-write: FerretDB before v2.
 * FerretDB adds `ferretdbVersion` to buildInfo; a build without version stamps says
 * `unknown`, so anything but an explicit v2+ counts as v1.
 */
export async function usesNonAtomicUpdates(db: Db): Promise<boolean> {
  const info = await db.admin().command({ buildInfo: 1 });
  const ferret = info['ferretdbVersion'];
  return typeof ferret === 'string' && !/^v?([2-9]|\d{2,})\./.test(ferret);
}

/** Connect, create the indexes, and return the store. Rejects with `unavailable` if unreachable. */
export async function createMongoJobStore(opts: MongoJobStoreOptions): Promise<JobStore> {
  const w = opts.writeConcern ?? 'majority';
  if (w !== 'majority' && !(Number.isInteger(w) && w >= 1)) throw new RangeError(`writeConcern must be "majority" or a number ≥ 1, got ${w}`);
  const client = new MongoClient(opts.url, {
    serverSelectionTimeoutMS: opts.serverSelectionTimeoutMs ?? 5000,
    ignoreUndefined: true,
    writeConcern: { w },
  });
  try {
    await client.connect();
    const db = client.db(opts.dbName ?? dbNameFromUrl(opts.url) ?? 'vendorfetch');
    const timeoutMs = opts.operationTimeoutMs ?? 5000;
    let versioned: MongoJobStore['versioned'];
    if (await usesNonAtomicUpdates(db)) {
      opts.logger?.info('job store: this server (FerretDB v1) does not apply updates atomically; status changes go through version claims (version-claims.ts)');
      const claims = db.collection<ClaimDoc>('job_version_claims');
      await claims.createIndex({ at: 1 }, { name: 'at' }); // retention
      versioned = { update: versionedUpdate(claims, { timeoutMs, staleAfterMs: CLAIM_STALE_FACTOR * timeoutMs }), claims };
    }
    const maxItems = opts.insertBatchMax ?? DEFAULT_INSERT_BATCH;
    const batching = { maxItems, maxInFlight: opts.insertsInFlight ?? (maxItems > 1 ? 2 : Infinity) };
    const store = new MongoJobStore(client, db.collection<JobDoc>('jobs'), timeoutMs, batching, versioned);
    await ensureIndexes(store.jobs, opts);
    return store;
  } catch (e) {
    // The connect/index error below is the one worth reporting; a failing close adds nothing.
    await client.close().catch(() => undefined);
    throw storeError(e);
  }
}

async function ensureIndexes(jobs: Collection<JobDoc>, opts: MongoJobStoreOptions): Promise<void> {
  // One index per command, in order: FerretDB v1.24 crashes the connection when a single
  // createIndexes names several indexes that already exist (every restart would).
  // Startup only, so the extra round trips cost nothing on the request path.
  await jobs.createIndex({ status: 1, deadline_at: 1 }, { name: 'status_deadline' }); // sweeper
  await jobs.createIndex({ idem: 1 }, { name: 'idem_unique', unique: true });
  await jobs.createIndex({ created_at: 1 }, { name: 'created_at' }); // retention of Idempotency-Keys
  await jobs.createIndex({ vendor: 1, status: 1 }, { name: 'vendor_status' }); // countByStatus
  await jobs.createIndex({ vendor: 1, status: 1, deadline_at: 1 }, { name: 'vendor_status_deadline' }); // sweeper, per vendor
  // GET /jobs (listJobs): each filter combination walks one index in _id (request_id) order.
  await jobs.createIndex({ vendor: 1, status: 1, _id: 1 }, { name: 'vendor_status_id' });
  await jobs.createIndex({ vendor: 1, _id: 1 }, { name: 'vendor_id' });
  await jobs.createIndex({ status: 1, _id: 1 }, { name: 'status_id' });
  await jobs.createIndex({ callback_state: 1, status: 1, callback_next_at: 1 }, { name: 'callback_due' }); // callback sender
  if (opts.retentionSeconds !== undefined) {
    try {
      await jobs.createIndex(
        { completed_at: 1 },
        { name: 'completed_at_ttl', expireAfterSeconds: Math.max(0, Math.floor(opts.retentionSeconds)) },
      );
      return;
    } catch (e) {
      opts.logger?.warn({ err: e }, 'job store: TTL index not available; retention relies on deleteFinishedBefore');
    }
  }
  try {
    await jobs.createIndex({ completed_at: 1 }, { name: 'completed_at' });
  } catch (e) {
    // An index on completed_at with other options (e.g. a TTL one from an earlier start)
    // already exists; it serves deleteFinishedBefore just as well.
    if (!(e instanceof MongoServerError)) throw e;
    opts.logger?.info({ err: e }, 'job store: keeping the existing completed_at index');
  }
}

/** One new job waiting for its insert command; `failure` is set if this document alone failed. */
interface PendingInsert {
  doc: JobDoc;
  /** When its create() must have answered (ms since the epoch). */
  deadline: number;
  failure?: WriteError | Error;
}

/**
 * The failures of single documents of an unordered insert (a duplicate key), or undefined if
 * the command failed as a whole (unreachable, aborted by the deadline, write concern not met):
 * then no document's fate is known, and the whole batch fails.
 */
function documentFailures(e: unknown): WriteError[] | undefined {
  if (!(e instanceof MongoBulkWriteError) || e.result.getWriteConcernError() !== undefined) return undefined;
  const failures = ([] as WriteError[]).concat(e.writeErrors);
  return failures.length > 0 ? failures : undefined;
}

const isDuplicateKey = (failure: WriteError | Error): boolean => 'code' in failure && failure.code === 11000;

class MongoJobStore implements JobStore {
  private closed = false;
  /** Adds a new job to the next insert command; resolves once that command was acknowledged. */
  private readonly queueInsert: (batchKey: string, insert: PendingInsert) => Promise<void>;
  /** Insert commands on the wire: close() lets them finish. */
  private readonly inserting = new Set<Promise<void>>();

  constructor(
    private readonly client: MongoClient,
    readonly jobs: Collection<JobDoc>,
    /** Deadline of one operation (MongoJobStoreOptions.operationTimeoutMs). */
    private readonly timeoutMs: number,
    batching: { maxItems: number; maxInFlight: number },
    /** Set on servers whose updates are not atomic: their compare-and-set (version-claims.ts). */
    readonly versioned?: { update: VersionedUpdate; claims: Collection<ClaimDoc> },
  ) {
    this.queueInsert = batchPerTurn((_, batch) => this.insertBatch(batch), batching);
  }

  async create(job: NewJob, now: Date): Promise<{ job: Job; created: boolean }> {
    const doc = newDoc(job, now);
    const batchKey = doc.payload_json.length > OWN_BATCH_PAYLOAD_CHARS ? doc._id : '';
    // One deadline for the whole create(): waiting for a command, the insert, the duplicate path.
    const deadline = Date.now() + this.timeoutMs;
    try {
      // Two tries: the job holding our key may be deleted (the api's undo) between our insert
      // and our read, and then the second insert succeeds.
      for (let attempt = 0; attempt < 2; attempt++) {
        const insert: PendingInsert = { doc, deadline };
        await this.queueInsert(batchKey, insert);
        // The caller's payload as given: parsing what we just encoded would only cost time.
        if (!insert.failure) return { job: { ...docToJobMeta(doc), payload: job.payload ?? null }, created: true };
        if (!isDuplicateKey(insert.failure)) throw storeError(insert.failure);
        // Some servers do not say which index collided: look the key up, then the id.
        const o = timeLimit(Math.max(1, deadline - Date.now()));
        if (job.idempotency_key !== undefined) {
          const existing = await this.jobs.findOne({ idem: doc.idem }, o);
          if (existing) return { job: docToJob(existing), created: false };
        }
        if (await this.jobs.findOne({ _id: job.request_id }, { projection: { _id: 1 }, ...o })) {
          throw duplicateRequestId(job.request_id);
        }
      }
      throw new Error('idempotency key kept conflicting with a job that vanished');
    } catch (e) {
      throw storeError(e);
    }
  }

  async createMany(jobs: readonly NewJob[], now: Date): Promise<CreateOutcome[]> {
    const outcomes: Array<CreateOutcome | undefined> = new Array<CreateOutcome | undefined>(jobs.length);
    const docs: JobDoc[] = [];
    const positions: number[] = []; // docs[k] is jobs[positions[k]]
    jobs.forEach((job, i) => {
      try {
        docs.push(newDoc(job, now));
        positions.push(i);
      } catch (e) {
        outcomes[i] = { ok: false, error: e };
      }
    });
    const failures = new Map<number, WriteError>();
    await this.guard(async (o) => {
      if (docs.length === 0) return;
      try {
        // The driver splits a command that outgrows the server's message size; ONE logical write.
        await this.jobs.insertMany(docs, { ordered: false, ...forWrite(o) });
      } catch (e) {
        const perDocument = documentFailures(e);
        if (!perDocument) throw e; // the command failed as a whole: no job's fate is known
        for (const f of perDocument) failures.set(f.index, f);
      }
    }, BATCH_TIMEOUT_FACTOR);
    // Duplicate keys: one read for every used Idempotency-Key, as create() does one by one.
    const keyed = [...failures.entries()].filter(([k, f]) => isDuplicateKey(f) && jobs[positions[k]!]!.idempotency_key !== undefined);
    const holders = new Map<string, JobDoc>();
    if (keyed.length > 0) {
      await this.guard(async (o) => {
        const idems = keyed.map(([k]) => docs[k]!.idem);
        for (const d of await this.jobs.find({ idem: { $in: idems } }, o).toArray()) holders.set(d.idem, d);
      });
    }
    for (let k = 0; k < docs.length; k++) {
      const i = positions[k]!;
      const job = jobs[i]!;
      const failure = failures.get(k);
      if (!failure) {
        outcomes[i] = { ok: true, job: { ...docToJobMeta(docs[k]!), payload: job.payload ?? null }, created: true };
      } else if (!isDuplicateKey(failure)) {
        outcomes[i] = { ok: false, error: storeError(failure) };
      } else {
        const holder = holders.get(docs[k]!.idem);
        if (holder) outcomes[i] = { ok: true, job: docToJob(holder), created: false };
        // The key's holder vanished (the api's undo) or the request_id is taken: create()
        // settles both, one job at a time; rare enough not to matter for the batch's cost.
        else outcomes[i] = await this.create(job, now).then((r): CreateOutcome => ({ ok: true, ...r }), (error: unknown): CreateOutcome => ({ ok: false, error }));
      }
    }
    return outcomes as CreateOutcome[];
  }

  async listJobs(q: JobQuery): Promise<ListedJob[]> {
    const n = Math.max(0, Math.floor(q.limit));
    if (n === 0) return [];
    return this.guard(async (o) => {
      const filter: Document = {};
      if (q.afterRequestId !== undefined) filter['_id'] = { $gt: q.afterRequestId };
      if (q.vendor !== undefined) filter['vendor'] = q.vendor;
      if (q.status !== undefined) filter['status'] = q.status;
      if (q.createdAfter !== undefined) filter['created_at'] = { $gt: q.createdAfter };
      const projection = q.withPayload ? {} : { payload_json: 0, result_json: 0 };
      const docs = await this.jobs.find(filter, { projection, ...o }).sort({ _id: 1 }).limit(n).toArray();
      return docs.map((d): ListedJob => (q.withPayload ? docToJob(d) : docToJobMeta(d)));
    });
  }

  /**
   * One batch of new jobs, one unordered insert command; per-document failures go to their own
   * create(). The command gets the earliest deadline of its jobs, so none answers late; a job
   * whose deadline passed while it waited fails without being sent.
   */
  private insertBatch(batch: PendingInsert[]): Promise<void> {
    const sent = (async () => {
      const now = Date.now();
      const live: PendingInsert[] = [];
      for (const i of batch) {
        if (i.deadline > now) live.push(i);
        else i.failure = new Error(`no insert command could take the job within ${this.timeoutMs} ms`);
      }
      if (live.length === 0) return;
      const ms = Math.min(...live.map((i) => i.deadline)) - now;
      try {
        await this.jobs.insertMany(live.map((i) => i.doc), { ordered: false, ...forWrite(timeLimit(ms)) });
      } catch (e) {
        const failures = documentFailures(e);
        if (!failures) throw e;
        for (const f of failures) live[f.index]!.failure = f;
      }
    })();
    this.inserting.add(sent);
    const done = () => void this.inserting.delete(sent);
    sent.then(done, done);
    return sent;
  }

  async get(requestId: string): Promise<Job | null> {
    return this.guard(async (o) => {
      const doc = await this.jobs.findOne({ _id: requestId }, o);
      return doc ? docToJob(doc) : null;
    });
  }

  async delete(requestId: string): Promise<boolean> {
    return this.guard(async (o) => (await this.jobs.deleteOne({ _id: requestId }, forWrite(o))).deletedCount === 1);
  }

  async startAttempt(requestId: string, deadline: Date, now: Date, expectedAttempts?: number): Promise<Job | null> {
    return this.guard(async (o) => {
      const filter = { _id: requestId, status: { $in: UNFINISHED }, ...fence(expectedAttempts) };
      const update = { $set: { status: 'processing' as const, deadline_at: deadline, updated_at: now }, $inc: { attempts: 1 } };
      const doc = this.versioned
        ? await this.versionedCas(requestId, filter, update, o)
        : await this.jobs.findOneAndUpdate(filter, update, { returnDocument: 'after', ...o });
      return doc ? docToJob(doc) : null;
    });
  }

  async releaseForRetry(requestId: string, error: string, deadline: Date, now: Date, attempt?: number): Promise<boolean> {
    return this.cas(
      { _id: requestId, status: 'processing', ...fence(attempt) },
      { $set: { status: 'pending', error, deadline_at: deadline, updated_at: now } },
    );
  }

  async complete(requestId: string, result: unknown, now: Date, attempt?: number): Promise<boolean> {
    // A completed job keeps no error from earlier attempts: status and error never disagree.
    return this.cas(
      { _id: requestId, status: 'processing', ...fence(attempt) },
      { $set: { status: 'complete', result_json: toJsonText(result), completed_at: now, updated_at: now }, $unset: { error: '' } },
    );
  }

  async completeByCallback(requestId: string, result: unknown, now: Date): Promise<boolean> {
    return this.cas(
      { _id: requestId, status: { $in: UNFINISHED }, attempts: { $gte: 1 } },
      { $set: { status: 'complete', result_json: toJsonText(result), completed_at: now, updated_at: now }, $unset: { error: '' } },
    );
  }

  async completeFromCache(requestId: string, result: unknown, now: Date, expectedAttempts: number): Promise<boolean> {
    return this.cas(
      { _id: requestId, status: { $in: UNFINISHED }, attempts: expectedAttempts },
      { $set: { status: 'complete', result_json: toJsonText(result), from_cache: true, completed_at: now, updated_at: now }, $unset: { error: '' } },
    );
  }

  async fail(requestId: string, error: string, now: Date, attempt?: number): Promise<boolean> {
    return this.cas(
      { _id: requestId, status: { $in: UNFINISHED }, ...fence(attempt) },
      { $set: { status: 'failed', error, completed_at: now, updated_at: now } },
    );
  }

  async cancel(requestId: string, now: Date): Promise<boolean> {
    // No attempt fence: a cancel wins over whatever attempt runs (see JobStore.cancel).
    return this.cas(
      { _id: requestId, status: { $in: UNFINISHED } },
      { $set: { status: 'cancelled', completed_at: now, updated_at: now } },
    );
  }

  async listFailed(vendor: string, limit: number, afterRequestId?: string): Promise<JobMeta[]> {
    const n = Math.max(0, Math.floor(limit));
    if (n === 0) return [];
    return this.guard(async (o) => {
      // vendor_status narrows to the vendor's failed jobs; they are few, the sort is cheap.
      const docs = await this.jobs
        .find(
          { vendor, status: 'failed', ...(afterRequestId === undefined ? {} : { _id: { $gt: afterRequestId } }) },
          { projection: { payload_json: 0, result_json: 0 }, ...o },
        )
        .sort({ _id: 1 })
        .limit(n)
        .toArray();
      return docs.map(docToJobMeta);
    });
  }

  async replayFailed(requestId: string, vendor: string, deadline: Date, now: Date): Promise<boolean> {
    // attempts stays (the fence); the budget restarts from its current value. Two steps because
    // a value copied from another field needs a pipeline update, which FerretDB v1 lacks: read
    // the count, then CAS on status AND that count (a failed job's count cannot move, so the
    // condition only guards against a replay + run + fail in between).
    return this.guard(async (o) => {
      const doc = await this.jobs.findOne({ _id: requestId, vendor, status: 'failed' }, { projection: { attempts: 1 }, ...o });
      if (!doc) return false;
      return this.cas(
        { _id: requestId, vendor, status: 'failed', attempts: doc.attempts },
        { $set: { status: 'pending', replayed_attempts: doc.attempts, deadline_at: deadline, updated_at: now }, $unset: { completed_at: '' } },
      );
    });
  }

  async setDeadline(requestId: string, status: JobStatus, deadline: Date, now: Date, attempt?: number): Promise<boolean> {
    if (!UNFINISHED.includes(status)) return false; // finished jobs have no deadline to move
    return this.cas({ _id: requestId, status, ...fence(attempt) }, { $set: { deadline_at: deadline, updated_at: now } });
  }

  async findOverdue(now: Date, limit: number, vendor?: string): Promise<JobMeta[]> {
    const n = Math.max(0, Math.floor(limit));
    if (n === 0) return [];
    return this.guard(async (o) => {
      const docs = await this.jobs
        .find(
          { status: { $in: UNFINISHED }, deadline_at: { $lt: now }, ...(vendor === undefined ? {} : { vendor }) },
          { projection: { payload_json: 0, result_json: 0 }, ...o },
        )
        .sort({ deadline_at: 1 })
        .limit(n)
        .toArray();
      return docs.map(docToJobMeta);
    });
  }

  async countOverdueByVendor(now: Date): Promise<Map<string, number>> {
    return this.guard(async (o) => {
      const rows = await this.jobs
        .aggregate<{ _id: string; n: number }>(
          [
            { $match: { status: { $in: UNFINISHED }, deadline_at: { $lt: now } } },
            { $group: { _id: '$vendor', n: { $sum: 1 } } },
          ],
          o,
        )
        .toArray();
      return new Map(rows.map((r) => [r._id, Number(r.n)]));
    });
  }

  async expireIdempotencyKeys(cutoff: Date): Promise<number> {
    // `idem` must stay unique and present (no partial indexes): an expired key becomes the
    // key-less form `r:<request_id>`. Per document, because a value computed from another
    // field needs a pipeline update, which FerretDB v1 lacks. Batches of 500 until none is left.
    return this.guard(async (o) => {
      let freed = 0;
      for (;;) {
        const ids = await this.jobs
          .find({ idem: { $regex: '^k:' }, created_at: { $lt: cutoff } }, { projection: { _id: 1 }, ...o })
          .limit(500)
          .toArray();
        if (ids.length === 0) return freed;
        const r = await this.jobs.bulkWrite(
          ids.map(({ _id }) => ({ updateOne: { filter: { _id, idem: { $regex: '^k:' } }, update: { $set: { idem: `r:${_id}` } } } })),
          { ordered: false, ...o },
        );
        freed += r.modifiedCount;
        if (ids.length < 500) return freed;
      }
    });
  }

  async deleteFinishedBefore(cutoff: Date): Promise<number> {
    return this.guard(async (o) => {
      const n = (await this.jobs.deleteMany({ status: { $in: FINISHED }, completed_at: { $lt: cutoff } }, forWrite(o))).deletedCount;
      // Claims are worth nothing once far older than an operation's deadline (version-claims.ts):
      // an hour, or the jobs' own cutoff if that is later.
      if (this.versioned) await deleteClaimsBefore(this.versioned.claims, new Date(Math.max(cutoff.getTime(), Date.now() - 3_600_000)), o);
      return n;
    }, BULK_TIMEOUT_FACTOR);
  }

  async countByStatus(vendor: string): Promise<Record<JobStatus, number>> {
    return this.guard(async (o) => {
      const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
      const rows = await this.jobs
        .aggregate<{ _id: JobStatus; n: number }>([{ $match: { vendor } }, { $group: { _id: '$status', n: { $sum: 1 } } }], o)
        .toArray();
      for (const row of rows) if (row._id in counts) counts[row._id] = Number(row.n);
      return counts;
    });
  }

  async findDueCallbacks(now: Date, limit: number): Promise<Array<{ request_id: string; attempts: number }>> {
    const n = Math.max(0, Math.floor(limit));
    if (n === 0) return [];
    return this.guard(async (o) => {
      const docs = await this.jobs
        .find(
          { callback_state: 'pending', status: { $in: FINISHED }, callback_next_at: { $lte: now } },
          { projection: { _id: 1, callback_attempts: 1 }, ...o },
        )
        .sort({ callback_next_at: 1 })
        .limit(n)
        .toArray();
      return docs.map((d) => ({ request_id: d._id, attempts: d.callback_attempts ?? 0 }));
    });
  }

  async claimCallback(requestId: string, attempts: number, leaseUntil: Date, now: Date): Promise<Job | null> {
    return this.guard(async (o) => {
      const filter = { _id: requestId, callback_state: 'pending' as const, status: { $in: FINISHED }, callback_attempts: attempts, callback_next_at: { $lte: now } };
      const update = { $set: { callback_next_at: leaseUntil }, $inc: { callback_attempts: 1 } };
      const doc = this.versioned
        ? await this.versionedCas(requestId, filter, update, o)
        : await this.jobs.findOneAndUpdate(filter, update, { returnDocument: 'after', ...o });
      return doc ? docToJob(doc) : null;
    });
  }

  async settleCallback(requestId: string, attempt: number, outcome: CallbackOutcome, now: Date): Promise<boolean> {
    const filter = { _id: requestId, callback_state: 'pending' as const, callback_attempts: attempt };
    switch (outcome.state) {
      case 'delivered':
        return this.cas(filter, { $set: { callback_state: 'delivered', callback_delivered_at: now }, $unset: { callback_error: '' } });
      case 'pending':
        return this.cas(filter, { $set: { callback_error: outcome.error, callback_next_at: outcome.nextAt } });
      case 'failed':
        return this.cas(filter, { $set: { callback_state: 'failed', callback_error: outcome.error } });
    }
  }

  async ping(): Promise<void> {
    await this.guard((o) => this.client.db('admin').command({ ping: 1 }, o));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Creates already accepted still get written (and settled) before the client closes: a
    // turn for this turn's batch to go out, then the commands on the wire and those waiting.
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.inserting.size === 0) break;
      await Promise.allSettled(this.inserting);
    }
    await this.client.close();
  }

  /** One conditional single-document update; true only if this call matched (and so won). */
  private cas(filter: Parameters<Collection<JobDoc>['updateOne']>[0], update: Parameters<Collection<JobDoc>['updateOne']>[1]): Promise<boolean> {
    return this.guard(async (o) => {
      if (this.versioned) return (await this.versionedCas(filter._id as string, filter, update, o)) !== null;
      return (await this.jobs.updateOne(filter, update, forWrite(o))).matchedCount === 1;
    });
  }

  /** The compare-and-set of a server whose updates are not atomic (version-claims.ts). */
  private async versionedCas(requestId: string, filter: Document, update: Document, o: Deadline): Promise<JobDoc | null> {
    return (await this.versioned!.update(this.jobs as unknown as Docs, requestId, filter, update, o)) as JobDoc | null;
  }

  /** Runs one operation under its deadline; every failure is the store's (storeError: 503). */
  private async guard<T>(fn: (o: Deadline) => Promise<T>, timeoutFactor = 1): Promise<T> {
    try {
      return await fn(timeLimit(timeoutFactor * this.timeoutMs));
    } catch (e) {
      throw storeError(e);
    }
  }
}
