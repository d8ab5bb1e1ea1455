// The job queue on Redis Streams: one stream per vendor and priority lane (high, normal, low:
// docs/adr/0008-priority-lanes.md), one consumer group ("workers") on each. Entries carry only
// the request_id: the store is the source of truth for the job itself. A job always travels in
// its own lane (job.priority): queued, handed back, retried, reclaimed.
//
// Delivery is at-least-once: an entry stays in the group's pending list (PEL) until a worker
// acknowledges it; entries idle past the visibility timeout are reclaimed (XAUTOCLAIM) from
// workers that died. Retries wait in a per-vendor delayed set (score = due time in ms) that
// promoteDue() moves back into the stream. Jobs that used up their attempts go to a
// dead-letter stream. Everything here is a thin adapter: the decisions live in worker/.
import type { Redis } from 'ioredis';
import { batchPerTurn } from './batch.js';
import { PRIORITIES, type Priority } from './job.js';
import { keys } from './keys.js';
import { promoteDueScript } from './scripts/promote-due.js';

/** Every lane of a vendor, highest first. */
export const LANES: readonly Priority[] = PRIORITIES;

/** Queue a job for its vendor's workers, in its lane. Resolves with the stream entry id once Redis has it. */
export async function enqueue(redis: Redis, vendor: string, requestId: string, lane: Priority): Promise<string> {
  const id = await redis.xadd(keys.stream(vendor, lane), '*', 'id', requestId);
  if (id === null) throw new Error('XADD returned no id');
  return id;
}

/** A job to queue with enqueueMany: its id and its lane (job.priority). */
export interface LaneEntry {
  requestId: string;
  lane: Priority;
}

/**
 * Queue many jobs of one vendor in ONE pipelined round trip (POST /jobs/batch), each into its
 * own lane's stream (the lanes share the vendor's hash tag, so one pipeline still reaches one
 * Redis Cluster node). Outcomes in input order: the entry id, or that XADD's error. A pipeline
 * that could not be sent at all (Redis unreachable) fails every entry: none of them can be
 * known to be queued.
 */
export async function enqueueMany(redis: Redis, vendor: string, jobs: readonly LaneEntry[]): Promise<Array<string | Error>> {
  if (jobs.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const job of jobs) pipeline.xadd(keys.stream(vendor, job.lane), '*', 'id', job.requestId);
  let replies: Array<[Error | null, unknown]> | null;
  try {
    replies = await pipeline.exec();
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return jobs.map(() => err);
  }
  return jobs.map((_, i) => {
    const [err, id] = replies?.[i] ?? [new Error('no reply to XADD'), null];
    if (err) return err;
    return typeof id === 'string' ? id : new Error('XADD returned no id');
  });
}

/** One delivered stream entry. */
export interface QueueEntry {
  /** The stream entry id (what XACK takes). */
  entryId: string;
  requestId: string;
  /** The lane (stream) it came from: acks, hand-backs and retries go to the same one. */
  lane: Priority;
  /**
   * Taken over from a consumer known to be dead (its liveness key lapsed): a processing job
   * behind it is abandoned, whatever its deadline says.
   */
  abandoned?: boolean;
}

/**
 * The Redis error code of a reply error ("NOGROUP", "BUSYGROUP", …): the first word of the
 * reply, which is part of the Redis protocol, not free text.
 */
export function redisErrorCode(e: unknown): string | undefined {
  if (!(e instanceof Error) || e.name !== 'ReplyError') return undefined;
  return /^([A-Z]+)\b/.exec(e.message)?.[1];
}

/** The consumer group (or its stream) is gone: Redis restarted empty or was flushed. */
export const isNoGroupError = (e: unknown): boolean => redisErrorCode(e) === 'NOGROUP';

/**
 * Create the vendor's lane streams and their consumer groups if missing. A group starts at 0,
 * so entries added before any worker existed (or after Redis lost the group) are still delivered.
 */
export async function ensureGroup(redis: Redis, vendor: string): Promise<void> {
  for (const lane of LANES) {
    try {
      await redis.call('XGROUP', 'CREATE', keys.stream(vendor, lane), keys.group, '0', 'MKSTREAM');
    } catch (e) {
      if (redisErrorCode(e) !== 'BUSYGROUP') throw e;
    }
  }
}

type RawEntry = [id: string, fields: string[] | null];

function toEntries(raw: RawEntry[], lane: Priority): { entries: QueueEntry[]; deleted: string[] } {
  const entries: QueueEntry[] = [];
  const deleted: string[] = [];
  for (const [entryId, fields] of raw) {
    const i = fields ? fields.indexOf('id') : -1;
    const requestId = fields && i >= 0 && i % 2 === 0 ? fields[i + 1] : undefined;
    if (requestId === undefined) deleted.push(entryId);
    else entries.push({ entryId, requestId, lane });
  }
  return { entries, deleted };
}

/**
 * New entries of one lane for `consumer`, without waiting (see waitForNew). Entries without a
 * request id (trimmed, or malformed) come back in `deleted`: ack them.
 */
export async function readNew(
  redis: Redis,
  vendor: string,
  lane: Priority,
  consumer: string,
  count: number,
): Promise<{ entries: QueueEntry[]; deleted: string[] }> {
  const reply = (await redis.call(
    'XREADGROUP', 'GROUP', keys.group, consumer, 'COUNT', count, 'STREAMS', keys.stream(vendor, lane), '>',
  )) as unknown[] | null;
  return toEntries(streamEntries(reply), lane);
}

/**
 * Wait up to blockMs until some lane of the vendor has an entry not yet delivered to the group,
 * consuming nothing: the caller then reads the lanes by weight (readNew). XREAD from each
 * group's last-delivered-id rather than XREADGROUP BLOCK on the three streams, which would hand
 * over up to one entry per lane — more than the slots the caller has — and rather than from `$`,
 * which would miss an entry added since the caller's last read. Returns whether something came.
 * `redis` must be a connection of its own: a blocking read holds the connection.
 */
export async function waitForNew(redis: Redis, vendor: string, blockMs: number): Promise<boolean> {
  const from = await Promise.all(LANES.map((lane) => lastDeliveredId(redis, keys.stream(vendor, lane))));
  const reply = (await redis.call(
    'XREAD', 'COUNT', 1, 'BLOCK', blockMs, 'STREAMS', ...LANES.map((lane) => keys.stream(vendor, lane)), ...from,
  )) as unknown[] | null;
  return reply !== null && reply.length > 0;
}

/** The group's last-delivered-id on a stream ('0-0' before the group delivered anything). */
async function lastDeliveredId(redis: Redis, stream: string): Promise<string> {
  const groups = (await redis.call('XINFO', 'GROUPS', stream)) as unknown[][];
  const group = groups.find((g) => g[g.indexOf('name') + 1] === keys.group);
  if (!group) throw Object.assign(new Error(`NOGROUP no group ${keys.group} on ${stream}`), { name: 'ReplyError' });
  return String(group[group.indexOf('last-delivered-id') + 1] ?? '0-0');
}

/**
 * The entries of the first stream in an XREAD/XREADGROUP reply. RESP2 answers
 * [[key, entries], …]; RESP3 (ioredis' default from v6) answers a map, which ioredis flattens
 * to [key, entries, …].
 */
function streamEntries(reply: unknown[] | null): RawEntry[] {
  if (!reply || reply.length === 0) return [];
  const first = reply[0];
  return (Array.isArray(first) ? first[1] : reply[1]) as RawEntry[] ?? [];
}

/**
 * Take over entries that other consumers left idle for at least minIdleMs (their worker died).
 * Returns the claimed entries and the cursor for the next call ('0-0' when the scan wrapped).
 */
export async function reclaimIdle(
  redis: Redis,
  vendor: string,
  lane: Priority,
  consumer: string,
  minIdleMs: number,
  count: number,
  cursor = '0-0',
): Promise<{ entries: QueueEntry[]; deleted: string[]; cursor: string }> {
  const reply = (await redis.call(
    'XAUTOCLAIM', keys.stream(vendor, lane), keys.group, consumer, minIdleMs, cursor, 'COUNT', count,
  )) as [string, RawEntry[], string[]?];
  const { entries, deleted } = toEntries(reply[1], lane);
  // Redis ≥ 7 also lists the ids of entries that were deleted from the stream while pending.
  return { entries, deleted: [...deleted, ...(reply[2] ?? [])], cursor: reply[0] };
}

/**
 * Consumers of the vendor's group (other than `self`) with entries pending, that are dead: no
 * liveness key (keys.consumerAlive) and no interaction with the stream for `minIdleMs`. The
 * second test keeps a live worker of an older version (which sets no key but reads every
 * second) from being robbed.
 */
export async function deadConsumers(redis: Redis, vendor: string, lane: Priority, self: string, minIdleMs: number): Promise<string[]> {
  const raw = (await redis.call('XINFO', 'CONSUMERS', keys.stream(vendor, lane), keys.group)) as unknown[][];
  const candidates: string[] = [];
  for (const c of raw) {
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < c.length; i += 2) info.set(String(c[i]), c[i + 1]);
    const name = String(info.get('name'));
    if (name !== self && Number(info.get('pending') ?? 0) > 0 && Number(info.get('idle') ?? 0) >= minIdleMs) candidates.push(name);
  }
  if (candidates.length === 0) return [];
  const alive = await Promise.all(candidates.map((c) => redis.exists(keys.consumerAlive(vendor, c))));
  return candidates.filter((_, i) => alive[i] === 0);
}

/**
 * Take over up to `count` entries of a dead consumer that have been idle at least minIdleMs.
 * XCLAIM's min-idle check makes the take-over exclusive: of several workers claiming at once,
 * one gets each entry. Entries deleted from the stream meanwhile come back in `deleted`.
 */
export async function claimFromDead(
  redis: Redis,
  vendor: string,
  lane: Priority,
  dead: string,
  consumer: string,
  minIdleMs: number,
  count: number,
): Promise<{ entries: QueueEntry[]; deleted: string[] }> {
  const stream = keys.stream(vendor, lane);
  const pending = (await redis.call('XPENDING', stream, keys.group, 'IDLE', minIdleMs, '-', '+', count, dead)) as [string, ...unknown[]][];
  if (pending.length === 0) return { entries: [], deleted: [] };
  const ids = pending.map((p) => p[0]);
  const claimed = (await redis.call('XCLAIM', stream, keys.group, consumer, minIdleMs, ...ids)) as RawEntry[];
  // Ids missing from the reply were claimed by another worker first.
  const { entries, deleted } = toEntries(claimed.filter((e) => e !== null), lane);
  return { entries: entries.map((e) => ({ ...e, abandoned: true })), deleted };
}

/**
 * Remove a dead consumer from the group, but only once it has no pending entries: XGROUP
 * DELCONSUMER drops a consumer's pending entries with it, and an entry dropped so has no
 * owner left (only the sweeper would find its job, after the pending timeout). Entries too
 * recently touched to be claimed yet keep the consumer until a later check takes them.
 * Returns whether it was removed. A dead consumer gains no entries, so the check holds.
 */
export async function forgetDeadConsumer(redis: Redis, vendor: string, lane: Priority, dead: string): Promise<boolean> {
  const stream = keys.stream(vendor, lane);
  const pending = (await redis.call('XPENDING', stream, keys.group, '-', '+', 1, dead)) as unknown[];
  if (pending.length > 0) return false;
  await redis.call('XGROUP', 'DELCONSUMER', stream, keys.group, dead);
  return true;
}

/**
 * Reset the idle time of entries this consumer is still working on (a heartbeat), so a slow
 * call is not mistaken for a dead worker. JUSTID leaves the delivery counter alone.
 */
export async function touch(redis: Redis, vendor: string, consumer: string, entries: readonly QueueEntry[]): Promise<void> {
  for (const lane of LANES) {
    const ids = entries.filter((e) => e.lane === lane).map((e) => e.entryId);
    if (ids.length > 0) await redis.call('XCLAIM', keys.stream(vendor, lane), keys.group, consumer, 0, ...ids, 'JUSTID');
  }
}

export async function ack(redis: Redis, vendor: string, lane: Priority, ...entryIds: string[]): Promise<void> {
  if (entryIds.length === 0) return;
  await redis.xack(keys.stream(vendor, lane), keys.group, ...entryIds);
}

/**
 * XACK that gathers the acks of one event-loop turn into one command per vendor (sent from a
 * setImmediate). A worker finishing many jobs a second otherwise spends a Redis round trip per
 * job on it. Each promise settles with its batch: resolved once Redis has the ack, rejected
 * like ack() if the command fails (the entry then stays pending, as with a lost ack).
 */
export function createAckBatcher(redis: Redis): (vendor: string, entry: QueueEntry) => Promise<void> {
  const push = batchPerTurn<string>((stream, ids) => redis.xack(stream, keys.group, ...ids));
  return (vendor, entry) => push(keys.stream(vendor, entry.lane), entry.entryId);
}

/** Hand an entry back: queue the job again at the end of its lane and ack the old entry, atomically. */
export async function requeue(redis: Redis, vendor: string, entry: QueueEntry): Promise<void> {
  const stream = keys.stream(vendor, entry.lane);
  await redis.multi().xadd(stream, '*', 'id', entry.requestId).xack(stream, keys.group, entry.entryId).exec();
}

/** Park a job in its lane's delayed set until dueMs and ack its entry, atomically. */
export async function scheduleRetry(redis: Redis, vendor: string, entry: QueueEntry, dueMs: number): Promise<void> {
  await redis
    .multi()
    .zadd(keys.delayed(vendor, entry.lane), dueMs, entry.requestId)
    .xack(keys.stream(vendor, entry.lane), keys.group, entry.entryId)
    .exec();
}

/** Park a job in its lane's delayed set until dueMs (no entry to ack). */
export async function delay(redis: Redis, vendor: string, lane: Priority, requestId: string, dueMs: number): Promise<void> {
  await redis.zadd(keys.delayed(vendor, lane), dueMs, requestId);
}

/**
 * Move the vendor's retries that are due into their lanes' streams, at most `limit` per lane,
 * atomically per lane (two promoters never queue a retry twice). Returns how many moved.
 */
export async function promoteDue(redis: Redis, vendor: string, nowMs: number, limit = 500): Promise<number> {
  let moved = 0;
  for (const lane of LANES) moved += await promoteDueScript(redis, [keys.delayed(vendor, lane), keys.stream(vendor, lane)], [nowMs, limit]);
  return moved;
}

/** Entries kept in each vendor's dead-letter stream (the newest); older ones are trimmed. */
export const DEFAULT_DEAD_LETTER_MAX_LEN = 10_000;

/**
 * Record a job that used up its attempts (or was refused) in the vendor's dead-letter stream,
 * capped at `maxLen` entries (the newest; the jobs themselves stay in the store with their
 * error). Exact trimming: dead letters are rare, and `~` would keep up to ~100 more.
 */
export async function deadLetter(
  redis: Redis,
  vendor: string,
  item: { requestId: string; error: string; attempts: number },
  entry?: QueueEntry,
  maxLen = DEFAULT_DEAD_LETTER_MAX_LEN,
): Promise<void> {
  const tx = redis
    .multi()
    .xadd(keys.deadLetter(vendor), 'MAXLEN', '=', String(maxLen), '*', 'id', item.requestId, 'error', item.error, 'attempts', String(item.attempts));
  if (entry !== undefined) tx.xack(keys.stream(vendor, entry.lane), keys.group, entry.entryId);
  await tx.exec();
}

/**
 * Calls that must not count against maxAttempts (the vendor answered 429: our quota, not the
 * job, was at fault). Kept in Redis beside the queue; if Redis loses it, a job merely gets
 * fewer free calls.
 */
export async function addFreeCall(redis: Redis, vendor: string, requestId: string): Promise<void> {
  // The TTL is a backstop for counts nobody clears (a job deleted by retention, or finished
  // where no code path forgets it): the hash goes once no job of the vendor got a free call
  // for that long, which no retry schedule comes near.
  await redis.multi().hincrby(keys.freeCalls(vendor), requestId, 1).expire(keys.freeCalls(vendor), FREE_CALLS_TTL_SECONDS).exec();
}

/** How long a vendor's free-call hash lives after its last increment: 7 days. */
export const FREE_CALLS_TTL_SECONDS = 7 * 24 * 3600;

export async function freeCalls(redis: Redis, vendor: string, requestId: string): Promise<number> {
  return Number((await redis.hget(keys.freeCalls(vendor), requestId)) ?? 0);
}

export async function forgetFreeCalls(redis: Redis, vendor: string, requestId: string): Promise<void> {
  await redis.hdel(keys.freeCalls(vendor), requestId);
}

/**
 * A job finished outside the worker (an async vendor's webhook): drop its scheduled retry and
 * its free-call count. Both are only tidying: a retry promoted anyway finds the job finished
 * and is acknowledged without a call.
 */
export async function forgetJob(redis: Redis, vendor: string, requestId: string): Promise<void> {
  const tx = redis.multi();
  for (const lane of LANES) tx.zrem(keys.delayed(vendor, lane), requestId);
  await tx.hdel(keys.freeCalls(vendor), requestId).exec();
}

/** Entries not yet delivered to any worker (lag) and delivered but unacknowledged (pending), summed over the lanes. */
export async function streamBacklog(redis: Redis, vendor: string): Promise<{ lag: number; pending: number }> {
  const lanes = await Promise.all(LANES.map((lane) => laneBacklog(redis, keys.stream(vendor, lane))));
  return { lag: lanes.reduce((n, l) => n + l.lag, 0), pending: lanes.reduce((n, l) => n + l.pending, 0) };
}

async function laneBacklog(redis: Redis, stream: string): Promise<{ lag: number; pending: number }> {
  try {
    const groups = (await redis.call('XINFO', 'GROUPS', stream)) as unknown[][];
    for (const g of groups) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < g.length; i += 2) info.set(String(g[i]), g[i + 1]);
      if (info.get('name') !== keys.group) continue;
      const pending = Number(info.get('pending') ?? 0);
      // `lag` is null when Redis cannot tell (entries were deleted); fall back to the stream length.
      const lagRaw = info.get('lag');
      const lag = lagRaw === null || lagRaw === undefined ? Math.max(0, (await redis.xlen(stream)) - pending) : Number(lagRaw);
      return { lag, pending };
    }
    return { lag: await redis.xlen(stream), pending: 0 };
  } catch (e) {
    if (redisErrorCode(e) === 'ERR') return { lag: 0, pending: 0 }; // no such stream yet
    throw e;
  }
}

/**
 * Trim acknowledged history: keep every entry from the oldest one still pending (or not yet
 * delivered) onwards. Without this the streams grow forever, since XACK deletes nothing.
 */
export async function trimAcknowledged(redis: Redis, vendor: string): Promise<void> {
  for (const lane of LANES) await trimLane(redis, keys.stream(vendor, lane));
}

async function trimLane(redis: Redis, stream: string): Promise<void> {
  // Order matters: every entry up to last-delivered-id (read first) that is not pending a
  // moment later has been acknowledged; read the other way round, an entry delivered in
  // between would be trimmed while still pending.
  const groups = (await redis.call('XINFO', 'GROUPS', stream)) as unknown[][];
  const group = groups.find((g) => g[g.indexOf('name') + 1] === keys.group);
  if (!group) return;
  const lastDelivered = String(group[group.indexOf('last-delivered-id') + 1]);
  const pending = (await redis.call('XPENDING', stream, keys.group)) as [number, string | null, ...unknown[]];
  // Oldest entry anyone still needs: the oldest pending one, else the first not yet delivered.
  const minId = pending[0] > 0 && pending[1] ? pending[1] : nextId(lastDelivered);
  await redis.call('XTRIM', stream, 'MINID', '~', minId);
}

function nextId(id: string): string {
  const [ms, seq] = id.split('-');
  return `${ms}-${BigInt(seq ?? '0') + 1n}`;
}
