// The read loop of one vendor's streams (its priority lanes) in one worker process. Short on
// purpose (after BullMQ's Worker.run): take free slots → read (reclaimed entries first, then new
// ones shared out among the lanes by weight — lanes.ts — waiting when all are empty) → start
// each job without awaiting it → give unused slots back. Every slot taken is given back in a
// `finally`. It reads nothing while the vendor is paused, stops reading while its breaker is
// open, re-creates the consumer groups when Redis lost them (NOGROUP), and heartbeats its
// in-flight entries so they are not reclaimed.
import type { Redis } from 'ioredis';
import type { Priority } from '../core/job.js';
import type { Logger } from '../core/logger.js';
import { keys } from '../core/keys.js';
import * as queue from '../core/queue.js';
import { LANES, type QueueEntry } from '../core/queue.js';
import { createLanePicker } from './lanes.js';
import type { WorkerMetrics } from './metrics.js';
import type { JobProcessor, ProcessSignals, VendorRuntime } from './process.js';
import type { Slots } from './slots.js';

export interface ConsumerOptions {
  runtime: VendorRuntime;
  /** A connection of this consumer's own: the blocking wait for new entries holds it. Closed by stop(). */
  blocking: Redis;
  /** The shared connection for everything else. */
  redis: Redis;
  consumerName: string;
  slots: Slots;
  /** Most slots this consumer takes for one read (its fair share of the process). */
  maxBatch: () => number;
  process: JobProcessor;
  signals: ProcessSignals;
  metrics: WorkerMetrics;
  logger: Logger;
  /** Entries idle this long in another consumer's PEL are taken over (the fallback). */
  visibilityTimeoutMs: number;
  /**
   * This consumer's liveness key lives this long and is refreshed three times as often; a
   * consumer whose key has lapsed (and that has not touched the stream as long) is dead, and
   * its entries are taken over at once. Default 3000 ms.
   */
  livenessMs?: number;
  blockMs: number;
  now?: () => number;
}

export interface VendorConsumer {
  readonly vendor: string;
  readonly inFlight: number;
  /**
   * Stop reading; resolves when the loop has ended and the jobs it started have settled. Until
   * then the consumer still counts as alive (its entries are not taken over).
   */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function startVendorConsumer(o: ConsumerOptions): VendorConsumer {
  const vendor = o.runtime.spec.name;
  const now = o.now ?? Date.now;
  const log = o.logger.child({ vendor });
  // Running jobs by lane and entry id (two lanes' streams may hand out the same id).
  const jobs = new Map<string, { entry: QueueEntry; done: Promise<void> }>();
  const jobKey = (e: QueueEntry) => `${e.lane}/${e.entryId}`;
  let stopping = false;
  let nextReclaimAt = 0;
  let nextDeadCheckAt = 0;
  const reclaimCursor = new Map<Priority, string>(LANES.map((l) => [l, '0-0']));
  const picker = createLanePicker();

  // Tell the others we are alive (see keys.consumerAlive): a worker that stops refreshing this
  // (killed) has its entries taken over within `livenessMs`, not after the visibility timeout.
  const livenessMs = o.livenessMs ?? 3000;
  const aliveKey = keys.consumerAlive(vendor, o.consumerName);
  const refreshAlive = () =>
    o.redis.set(aliveKey, '1', 'PX', livenessMs).catch((err: unknown) => {
      // Missed refreshes can make others take our entries (a duplicate call at worst): say so.
      log.warn({ err }, 'liveness refresh failed; our entries may be taken over');
    });
  void refreshAlive();
  const liveness = setInterval(() => void refreshAlive(), Math.max(50, Math.floor(livenessMs / 3)));
  liveness.unref();

  // Keep our entries' idle time low while their calls run (a slow vendor is not a dead worker).
  const heartbeat = setInterval(() => {
    void queue.touch(o.redis, vendor, o.consumerName, [...jobs.values()].map((j) => j.entry)).catch((err: unknown) => {
      // Our entries then look idle: past the visibility timeout another worker may reclaim
      // them and call the vendor again. That must leave a trace.
      log.warn({ err, entries: jobs.size }, 'heartbeat of in-flight entries failed; they may be reclaimed by another worker');
    });
  }, Math.max(100, Math.floor(o.visibilityTimeoutMs / 3)));
  heartbeat.unref();

  const run = async (): Promise<void> => {
    await ensureGroupForever();
    // Paused (spec.paused): read nothing — new entries wait in the stream, and our own and dead
    // consumers' pending entries wait in the PEL — until a resume replaces this consumer.
    while (!stopping && o.runtime.spec.paused) await sleep(250);
    while (!stopping) {
      // While the breaker is open, leave the entries in the stream for later.
      const blocked = o.runtime.breaker.blockedForMs(now());
      if (blocked > 0) {
        await sleep(Math.min(blocked, 250));
        continue;
      }
      const taken = await o.slots.take(o.maxBatch());
      if (stopping) {
        o.slots.give(taken); // woken up by a finished job while stopping: read nothing more
        break;
      }
      if (taken === 0) continue;
      let used = 0;
      try {
        const batch = await read(taken);
        for (const entry of batch) {
          used++;
          start(entry);
        }
      } catch (e) {
        if (stopping) break;
        if (queue.isNoGroupError(e)) {
          log.warn('consumer group missing (Redis lost its data?); re-creating it');
          await ensureGroupForever();
        } else {
          log.error({ err: e }, 'reading the stream failed; retrying in 1s');
          await sleep(1000);
        }
      } finally {
        o.slots.give(taken - used);
      }
    }
  };

  async function read(count: number): Promise<QueueEntry[]> {
    if (now() >= nextDeadCheckAt) {
      nextDeadCheckAt = now() + Math.max(100, Math.floor(livenessMs / 2));
      for (const lane of LANES) {
        const taken = await takeOverFromDead(lane, count);
        if (taken.length > 0) return taken;
      }
    }
    if (now() >= nextReclaimAt) {
      for (const lane of LANES) {
        const r = await queue.reclaimIdle(o.redis, vendor, lane, o.consumerName, o.visibilityTimeoutMs, count, reclaimCursor.get(lane));
        reclaimCursor.set(lane, r.cursor);
        await queue.ack(o.redis, vendor, lane, ...r.deleted);
        if (r.entries.length > 0) {
          o.metrics.reclaimed.inc({ vendor }, r.entries.length);
          log.info({ count: r.entries.length, lane }, 'reclaimed idle entries from another consumer');
          return r.entries;
        }
      }
      // Scan again soon while a lane has more to scan, else after a visibility timeout's fraction.
      if ([...reclaimCursor.values()].every((c) => c === '0-0')) nextReclaimAt = now() + Math.max(250, Math.floor(o.visibilityTimeoutMs / 2));
    }
    return readByWeight(count);
  }

  /**
   * New entries: the slots are shared out among the lanes by weight (lanes.ts); a lane that
   * has fewer than its share gives the rest to the others, so no slot idles while any lane has
   * work. Entries come back highest lane first, so they also ask for quota first. With every
   * lane empty, wait (up to blockMs) for a new entry and return none: the loop reads again.
   */
  async function readByWeight(count: number): Promise<QueueEntry[]> {
    const out: QueueEntry[] = [];
    const empty = new Set<Priority>();
    while (out.length < count && empty.size < LANES.length) {
      const plan = picker.plan(count - out.length, empty);
      for (const lane of LANES) {
        const n = plan.get(lane) ?? 0;
        if (n === 0) continue;
        const r = await queue.readNew(o.redis, vendor, lane, o.consumerName, n);
        await queue.ack(o.redis, vendor, lane, ...r.deleted);
        out.push(...r.entries);
        if (r.entries.length + r.deleted.length < n) empty.add(lane);
      }
    }
    if (out.length === 0) await queue.waitForNew(o.blocking, vendor, o.blockMs);
    return out;
  }

  /** Entries of consumers known dead (see queue.deadConsumers), taken over now. */
  async function takeOverFromDead(lane: Priority, count: number): Promise<QueueEntry[]> {
    const dead = await queue.deadConsumers(o.redis, vendor, lane, o.consumerName, livenessMs);
    for (const d of dead) {
      const r = await queue.claimFromDead(o.redis, vendor, lane, d, o.consumerName, livenessMs, count);
      await queue.ack(o.redis, vendor, lane, ...r.deleted);
      if (r.entries.length > 0) {
        o.metrics.reclaimed.inc({ vendor }, r.entries.length);
        log.info({ count: r.entries.length, from: d, lane }, 'took over the entries of a dead consumer');
        return r.entries;
      }
      // Nothing claimable now: forget the dead consumer once nothing of it is pending (entries
      // touched too recently to claim stay with it until a later check takes them over).
      await queue.forgetDeadConsumer(o.redis, vendor, lane, d).catch((err: unknown) => {
        log.debug({ err, consumer: d }, 'could not remove a dead consumer (another worker may have)');
      });
    }
    return [];
  }

  function start(entry: QueueEntry): void {
    const p = o
      .process(o.runtime, entry, o.signals)
      .catch((e: unknown) => {
        // Store or Redis trouble: the entry stays in the PEL and is reclaimed later.
        log.error({ err: e, request_id: entry.requestId }, 'job processing failed; entry left for reclaim');
      })
      .finally(() => {
        jobs.delete(jobKey(entry));
        o.slots.give(1);
      });
    jobs.set(jobKey(entry), { entry, done: p });
  }

  async function ensureGroupForever(): Promise<void> {
    while (!stopping) {
      try {
        await queue.ensureGroup(o.redis, vendor);
        return;
      } catch (e) {
        log.error({ err: e }, 'cannot create the consumer group; retrying in 1s');
        await sleep(1000);
      }
    }
  }

  const loop = run().catch((e: unknown) => log.error({ err: e }, 'consumer loop crashed'));
  let stopped: Promise<void> | undefined;
  return {
    vendor,
    get inFlight() {
      return jobs.size;
    },
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        // Interrupt a blocking read at once instead of waiting out its BLOCK.
        o.blocking.disconnect();
        await loop;
        // Still alive while draining: the liveness key and the heartbeat keep running until our
        // jobs have settled. Stopped at the start instead, a drain longer than livenessMs (a call
        // still running, hand-backs waiting on a slow store) made us look dead, and a live worker
        // took over entries we were still working on: the vendor called twice, or two writers
        // racing on one job — which a store without atomic updates (FerretDB v1) resolved by
        // losing the taker's attempt, leaving the job pending with no entry left anywhere.
        await Promise.allSettled([...jobs.values()].map((j) => j.done));
        clearInterval(heartbeat);
        clearInterval(liveness);
        // Gone: entries still pending (aborted calls, failed hand-backs) may be taken over at once.
        await o.redis.del(aliveKey).catch((err: unknown) => log.debug({ err }, 'could not delete the liveness key; it expires by itself'));
      })()),
  };
}
