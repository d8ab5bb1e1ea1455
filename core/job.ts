// The job model and the JobStore contract. Both adapters (core/store/sqlite.ts, core/store/mongo.ts)
// pass the same contract suite (core/store/contract.ts). Every status change is compare-and-set,
// so a duplicate delivery or a late worker can never overwrite a finished job.

export const JOB_STATUSES = ['pending', 'processing', 'complete', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** Terminal statuses: no transition leaves them, except a dead-letter replay (failed → pending). */
export const FINISHED_STATUSES = ['complete', 'failed', 'cancelled'] as const satisfies readonly JobStatus[];
export const isFinished = (s: JobStatus): boolean => (FINISHED_STATUSES as readonly JobStatus[]).includes(s);

/**
 * A job's priority, highest first. Each is a lane of its vendor's queue, read by weight so that
 * higher lanes go first and low is never starved (docs/adr/0008-priority-lanes.md).
 */
export const PRIORITIES = ['high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];
/** What a job submitted without a priority gets (and every job stored before priorities existed). */
export const DEFAULT_PRIORITY: Priority = 'normal';

export interface Job {
  request_id: string;
  vendor: string;
  payload: unknown;
  /** Set at submit and never changed: every (re-)queue of the job goes into this lane. */
  priority: Priority;
  status: JobStatus;
  /** Vendor calls started for this job (incremented by startAttempt). Never goes down: it is the attempt fence. */
  attempts: number;
  /**
   * `attempts` when the job was last replayed from the dead letters (absent if never): those
   * calls do not count against maxAttempts, which is how a replay gets a fresh budget while
   * `attempts` keeps growing (resetting it would let a stale worker's fenced write match again).
   */
  replayed_attempts?: number;
  result?: unknown;
  /** Last error: a short code such as `vendor_5xx`, `timeout`, `callback_timeout`, with detail. */
  error?: string;
  idempotency_key?: string;
  created_at: Date;
  updated_at: Date;
  completed_at?: Date;
  /**
   * When the sweeper should look at this job again if nothing else happened: pending jobs
   * that were never picked up, processing jobs whose worker died or whose webhook never came.
   */
  deadline_at: Date;
  /** Completed from the vendor's result cache, without a vendor call (worker/result-cache.ts). Absent otherwise. */
  from_cache?: true;
  /** Where the final state is POSTed (completion callback, worker/callbacks.ts); absent: none. */
  callback_url?: string;
  /** Who submitted the job (the api's client id, `key:<digest>` or `anonymous`): picks the callback secret. */
  client_id?: string;
  /** Delivery of the completion callback; present exactly when callback_url is. */
  callback?: CallbackDelivery;
}

export const CALLBACK_STATES = ['pending', 'delivered', 'failed'] as const;
export type CallbackState = (typeof CALLBACK_STATES)[number];

/**
 * A completion callback's delivery. `pending` covers "job not finished yet" too: a delivery is
 * due once the job is finished AND next_at has passed. `attempts` is the fence of the sender's
 * writes, as Job.attempts is the worker's; next_at doubles as the claim's lease (a sender that
 * dies mid-send leaves the delivery due again at next_at).
 */
export interface CallbackDelivery {
  state: CallbackState;
  attempts: number;
  last_error?: string;
  next_at: Date;
  delivered_at?: Date;
}

/** What a sender writes after one delivery attempt (JobStore.settleCallback). */
export type CallbackOutcome =
  | { state: 'delivered' }
  | { state: 'pending'; error: string; nextAt: Date }
  | { state: 'failed'; error: string };

/** A job without its payload and result (see JobStore.findOverdue). */
export type JobMeta = Omit<Job, 'payload' | 'result'>;

export interface NewJob {
  request_id: string;
  vendor: string;
  payload: unknown;
  /** Default DEFAULT_PRIORITY. */
  priority?: Priority;
  idempotency_key?: string;
  deadline_at: Date;
  /** Completion callback target (already checked against the client's allowlist by the api). */
  callback_url?: string;
  client_id?: string;
}

/** One job's fate in createMany: stored (or the key's existing job), or its own error. */
export type CreateOutcome = { ok: true; job: Job; created: boolean } | { ok: false; error: unknown };

/** What listJobs selects; every filter is optional. Order: request_id ascending (≈ creation order). */
export interface JobQuery {
  vendor?: string;
  status?: JobStatus;
  /** Only jobs created strictly after this instant. */
  createdAfter?: Date;
  /** The cursor: only jobs whose request_id sorts after this one. */
  afterRequestId?: string;
  limit: number;
  /** Read payload and result too (they are the costly part of a page; off by default). */
  withPayload?: boolean;
}

/** A listed job: metadata, plus payload and result when the query asked for them. */
export type ListedJob = JobMeta & Partial<Pick<Job, 'payload' | 'result'>>;

export interface JobStore {
  /**
   * Insert a pending job. With an idempotency key already used, inserts nothing and returns
   * the existing job with created=false.
   */
  create(job: NewJob, now: Date): Promise<{ job: Job; created: boolean }>;
  /**
   * POST /jobs/batch: insert many pending jobs in ONE write (SQLite: one transaction; MongoDB:
   * one unordered insertMany). Outcomes in input order; each item behaves as create() would —
   * a used idempotency key takes the existing job (created=false), a taken request_id fails
   * that item alone. A failure of the write as a whole rejects (nothing was stored).
   */
  createMany(jobs: readonly NewJob[], now: Date): Promise<CreateOutcome[]>;
  /** GET /jobs: one page of jobs in request_id order, after the cursor, at most `limit`. */
  listJobs(query: JobQuery): Promise<ListedJob[]>;
  get(requestId: string): Promise<Job | null>;
  /** Remove a job that was never queued (the api's undo when the queue write fails). */
  delete(requestId: string): Promise<boolean>;
  /**
   * pending|processing → processing, attempts + 1, deadline_at = deadline. Returns the updated
   * job, or null when the job is missing or already finished (the caller acks and drops it).
   * With `expectedAttempts` (what the caller read), also null when another caller started an
   * attempt meanwhile: a duplicate entry never bumps the count under the worker calling now.
   */
  startAttempt(requestId: string, deadline: Date, now: Date, expectedAttempts?: number): Promise<Job | null>;
  // Fencing: the optional `attempt` is the caller's own attempt number (from its startAttempt).
  // Given, the write applies only while the job's `attempts` still equals it, so a worker
  // whose job was taken over (the sweeper re-queued it and another worker started it) can
  // never write its stale outcome, deadline or retry.

  /** processing → pending with the error recorded and a new deadline (a retry is scheduled). */
  releaseForRetry(requestId: string, error: string, deadline: Date, now: Date, attempt?: number): Promise<boolean>;
  /** processing → complete. True only for the call that made the transition. */
  complete(requestId: string, result: unknown, now: Date, attempt?: number): Promise<boolean>;
  /**
   * An async vendor's signed answer: pending|processing → complete, for a job the vendor was
   * called for at least once (attempts ≥ 1). Pending covers "our call timed out but the vendor
   * had accepted it": the retry is then no longer needed. True only for the call that made it.
   */
  completeByCallback(requestId: string, result: unknown, now: Date): Promise<boolean>;
  /**
   * The result cache answered: pending|processing → complete with from_cache, attempts unchanged
   * (no vendor call was made). Fenced on `expectedAttempts` (what the caller read), so a job
   * another worker started meanwhile is left to it. True only for the call that made the transition.
   */
  completeFromCache(requestId: string, result: unknown, now: Date, expectedAttempts: number): Promise<boolean>;
  /** pending|processing → failed. True only for the call that made the transition. */
  fail(requestId: string, error: string, now: Date, attempt?: number): Promise<boolean>;
  /**
   * pending|processing → cancelled (a client's cancel), completed_at = now. No attempt fence:
   * it wins over whichever attempt is running, whose later fenced writes then match nothing.
   * True only for the call that made the transition.
   */
  cancel(requestId: string, now: Date): Promise<boolean>;
  /**
   * Dead letters: `vendor`'s failed jobs, metadata only, in request_id order (≈ creation order:
   * ids are UUIDv7), after `afterRequestId` when given (the cursor), at most `limit`.
   */
  listFailed(vendor: string, limit: number, afterRequestId?: string): Promise<JobMeta[]>;
  /**
   * Dead-letter replay: failed → pending for `vendor`'s job, with a fresh attempt budget
   * (replayed_attempts = attempts), no completed_at and the new deadline. Compare-and-set, so
   * of two concurrent replays of one job exactly one returns true (and queues it).
   */
  replayFailed(requestId: string, vendor: string, deadline: Date, now: Date): Promise<boolean>;
  /** Move an unfinished job's deadline (the sweeper re-queued it). CAS on status. */
  setDeadline(requestId: string, status: JobStatus, deadline: Date, now: Date, attempt?: number): Promise<boolean>;
  /**
   * Unfinished jobs whose deadline_at < now, oldest deadline first; only `vendor`'s when given.
   * Metadata only (no payload or result): the sweeper needs ids, status and attempts, and
   * reading full payloads every sweep cost more than everything else it does.
   */
  findOverdue(now: Date, limit: number, vendor?: string): Promise<JobMeta[]>;
  /** Unfinished jobs with deadline_at < now, counted per vendor (vendors with none are absent). */
  countOverdueByVendor(now: Date): Promise<Map<string, number>>;
  /**
   * Retention of Idempotency-Keys: forget the keys of jobs created before the cutoff (the jobs
   * stay), so a key can be used again afterwards. Returns how many keys were freed.
   */
  expireIdempotencyKeys(cutoff: Date): Promise<number>;
  /** Retention: delete finished jobs completed before the cutoff; returns how many. */
  deleteFinishedBefore(cutoff: Date): Promise<number>;
  /**
   * Completion callbacks due: finished jobs whose callback is pending with next_at ≤ now, as
   * (request_id, callback attempts) pairs for claimCallback, oldest next_at first.
   */
  findDueCallbacks(now: Date, limit: number): Promise<Array<{ request_id: string; attempts: number }>>;
  /**
   * Claim one delivery attempt: a due, pending callback whose attempts still equal `attempts`
   * gets attempts + 1 and next_at = leaseUntil (so a sender killed mid-send leaves it due again
   * then). Compare-and-set: of racing senders exactly one gets the job back, the others null.
   */
  claimCallback(requestId: string, attempts: number, leaseUntil: Date, now: Date): Promise<Job | null>;
  /** Record the outcome of the claimed attempt `attempt` (fenced: a stale sender writes nothing). */
  settleCallback(requestId: string, attempt: number, outcome: CallbackOutcome, now: Date): Promise<boolean>;
  /** Count of jobs by status for a vendor (status reporting). */
  countByStatus(vendor: string): Promise<Record<JobStatus, number>>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
