// A worker process serves the vendors of ONE pool: it follows the registry and runs one stream
// consumer per vendor whose entry.pool is its pool, all sharing `concurrency` slots. Beside
// the consumers run timers: the promoter (due retries → stream), the sweeper (store → stream,
// one worker of the pool at a time, after the data-loss check of data-loss.ts), retention and
// the backlog gauges.
//
// Shutdown (close(), idempotent): stop reading and stop the timers; jobs still waiting for
// quota hand their entry back to the stream; calls in flight get `drainTimeoutMs` to finish,
// then are aborted and their entries stay in the PEL for XAUTOCLAIM (their jobs keep a deadline
// the sweeper watches). Connections the worker opened are closed; the ones it was given are not.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { JobStore } from '../core/job.js';
import { keys } from '../core/keys.js';
import type { Logger } from '../core/logger.js';
import * as queue from '../core/queue.js';
import type { RegistryEntry, RegistryView } from '../core/registry.js';
import type { VendorSpec } from '../core/vendorpool.js';
import { WEBHOOK_ROUTE } from '../core/webhook-route.js';
import type { CallbackClient } from '../core/callback-policy.js';
import { createVendorBreaker } from './breaker.js';
import { createCallbackSender, type CallbackSenderOptions } from './callbacks.js';
import { startVendorConsumer, type VendorConsumer } from './consumer.js';
import { recoverIfDataLost } from './data-loss.js';
import { setCircuitState, type WorkerMetrics } from './metrics.js';
import { createJobProcessor, type VendorRuntime } from './process.js';
import type { QuotaGate } from './quota.js';
import { createSlots } from './slots.js';
import { DEFAULT_RETENTION_INTERVAL_MS, retainOnce } from './retention.js';
import { sweepOnce } from './sweeper.js';

export interface WorkerOptions {
  /** Entries idle this long in a consumer's PEL are reclaimed (that worker is taken for dead). Default 30000. */
  visibilityTimeoutMs?: number;
  /** Longest XREADGROUP BLOCK. Default 1000. */
  blockMs?: number;
  /** Deadline given to a job queued again (pending this long → the sweeper re-queues it). Default 60000. */
  pendingTimeoutMs?: number;
  /** Added to a vendor's timeoutSeconds for a processing job's deadline. Default 5000. */
  callMarginMs?: number;
  /** Time a started job may wait for quota before its deadline is at risk. Default: visibilityTimeoutMs. */
  quotaWaitAllowanceMs?: number;
  /** Sweeper period (and lock time). Default 2000. */
  sweepIntervalMs?: number;
  /** Promoter period for due retries. Default 200. */
  promoteIntervalMs?: number;
  /** Backlog gauges, stream trimming, circuit state refresh. Default 5000. */
  backlogIntervalMs?: number;
  /** How long close() lets in-flight calls finish before aborting them. Default 10000. */
  drainTimeoutMs?: number;
  /** Largest vendor answer read (bytes); a longer one fails the call. Default 4 MiB. */
  maxAnswerBytes?: number;
  /** Jobs of a vendor that no pool serves are failed once overdue this long; 0: never. Default 24 h. */
  unservedFailAfterMs?: number;
  /** Finished jobs are deleted this long after they finished. Default 7 days. */
  finishedJobRetentionMs?: number;
  /** Idempotency-Keys are freed this long after their job was created. Default 24 h. */
  idempotencyKeyTtlMs?: number;
  /** Retention period (one pass per period across all workers). Default 60000. */
  retentionIntervalMs?: number;
  /** The completion-callback sender (worker/callbacks.ts): poll period, attempts, backoff, timeout. */
  callbacks?: CallbackSenderOptions;
}

export interface WorkerDeps {
  /** Shared command connection (not closed by the worker). Blocking reads use duplicates of it. */
  redis: Redis;
  /** Started and stopped by the worker. */
  registry: RegistryView;
  store: JobStore;
  quota: Pick<QuotaGate, 'acquire' | 'pause'>;
  /** "namespace/name" of the pool whose vendors this worker serves. */
  pool: string;
  /** Jobs in flight in this process, across its vendors. */
  concurrency: number;
  metrics: WorkerMetrics;
  logger: Logger;
  /** Base for async vendors' callback_url (see callbackUrlFor). Unset → no callback_url is sent. */
  webhookBaseUrl?: string;
  /** Completion-callback clients by client id (VF_CALLBACK_CLIENTS). Unset: none configured (due callbacks are retried, then dead-lettered). */
  callbackClients?: ReadonlyMap<string, CallbackClient>;
  options?: WorkerOptions;
  now?: () => number;
  random?: () => number;
}

export interface Worker {
  /** Start following the registry and consuming. Refuses a second call. */
  run(): Promise<void>;
  close(): Promise<void>;
  /** Vendors consumed right now. */
  vendors(): string[];
  /** Run one sweep now (tests, and the first sweep at start-up). */
  sweep(): Promise<number | null>;
}

/**
 * Where an async vendor posts its answer. The base may be the api's webhook route
 * (`…/vendor-webhook` → `…/vendor-webhook/<vendor>`), the api's bare public URL
 * (`https://vf.example` → `https://vf.example/vendor-webhook/<vendor>`), or a template with `{vendor}`.
 */
export function callbackUrlFor(base: string | undefined, vendor: string): string | undefined {
  if (!base) return undefined;
  const v = encodeURIComponent(vendor);
  if (base.includes('{vendor}')) return base.replaceAll('{vendor}', v);
  const trimmed = base.replace(/\/+$/, '');
  return trimmed.endsWith(WEBHOOK_ROUTE) ? `${trimmed}/${v}` : `${trimmed}${WEBHOOK_ROUTE}/${v}`;
}

export function createWorker(deps: WorkerDeps): Worker {
  const o = {
    visibilityTimeoutMs: 30_000,
    blockMs: 1000,
    pendingTimeoutMs: 60_000,
    callMarginMs: 5000,
    sweepIntervalMs: 2000,
    promoteIntervalMs: 200,
    backlogIntervalMs: 5000,
    drainTimeoutMs: 10_000,
    ...deps.options,
  };
  const now = deps.now ?? Date.now;
  const { redis, metrics, logger } = deps;
  const consumerName = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const slots = createSlots(deps.concurrency);
  const stopping = new AbortController();
  const hardStop = new AbortController();
  const signals = { stopping: stopping.signal, hardStop: hardStop.signal };
  const process_ = createJobProcessor({
    store: deps.store,
    redis,
    quota: deps.quota,
    metrics,
    logger,
    pendingTimeoutMs: o.pendingTimeoutMs,
    callMarginMs: o.callMarginMs,
    quotaWaitAllowanceMs: o.quotaWaitAllowanceMs ?? o.visibilityTimeoutMs,
    callbackUrl: (vendor) => callbackUrlFor(deps.webhookBaseUrl, vendor),
    ...(o.maxAnswerBytes !== undefined ? { maxAnswerBytes: o.maxAnswerBytes } : {}),
    now,
    ...(deps.random ? { random: deps.random } : {}),
  });

  interface Running {
    specJson: string;
    runtime: VendorRuntime;
    consumer: VendorConsumer;
    /** Aborts runtime.retired. */
    retire: AbortController;
  }
  const callbackSender = createCallbackSender({
    store: deps.store,
    clients: deps.callbackClients ?? new Map(),
    metrics,
    logger,
    ...(o.callbacks ? { options: o.callbacks } : {}),
    now,
    ...(deps.random ? { random: deps.random } : {}),
  });
  const running = new Map<string, Running>();
  const retiring = new Set<Promise<void>>();
  const timers: NodeJS.Timeout[] = [];
  let started = false;
  let closing: Promise<void> | undefined;

  /**
   * When this worker saw each vendor resumed (paused → not paused). For one pendingTimeoutMs after
   * that, the sweeper leaves the vendor's overdue pending jobs alone: their entries are still in
   * the stream, and the consumer drains them at the quota (see sweeper.ts, holdPending).
   */
  const resumedAt = new Map<string, number>();
  const holdPending = (vendor: string): boolean => {
    const r = running.get(vendor);
    if (!r) return false;
    if (r.runtime.spec.paused) return true;
    const at = resumedAt.get(vendor);
    return at !== undefined && now() - at < o.pendingTimeoutMs;
  };

  const mine = (entries: ReadonlyMap<string, RegistryEntry>): Map<string, VendorSpec> =>
    new Map([...entries].filter(([, e]) => e.pool === deps.pool).map(([name, e]) => [name, e.spec]));

  function retire(vendor: string): void {
    const r = running.get(vendor);
    if (!r) return;
    running.delete(vendor);
    r.retire.abort();
    const p = r.consumer.stop().finally(() => {
      r.runtime.breaker.dispose();
      retiring.delete(p);
    });
    retiring.add(p);
  }

  /** Start, restart or stop consumers so that they match the registry. */
  function reconcile(entries: ReadonlyMap<string, RegistryEntry>): void {
    if (stopping.signal.aborted) return;
    const wanted = mine(entries);
    for (const vendor of running.keys()) {
      if (wanted.has(vendor)) continue;
      retire(vendor);
      metrics.vendorPaused.remove({ vendor }); // not ours any more: no stale 1 left behind
    }
    for (const [vendor, spec] of wanted) {
      const specJson = JSON.stringify(spec);
      const before = running.get(vendor);
      if (before?.specJson === specJson) continue;
      const resumed = before?.runtime.spec.paused === true && !spec.paused;
      if (resumed) resumedAt.set(vendor, now());
      retire(vendor);
      const breaker = createVendorBreaker(spec, (state) => {
        setCircuitState(metrics.circuitState, vendor, state);
        void redis.set(keys.circuit(vendor), state).catch((err: unknown) => {
          // Status reporting only (GET /vendors); the backlog timer writes it again every few seconds.
          logger.debug({ err, vendor }, 'could not publish the circuit state');
        });
        logger.warn({ vendor, circuit: state }, 'circuit breaker changed state');
      });
      setCircuitState(metrics.circuitState, vendor, 'closed');
      metrics.quotaLimit.set({ vendor }, spec.quota.requestsPerSecond);
      metrics.vendorPaused.set({ vendor }, spec.paused ? 1 : 0);
      if (spec.paused) logger.warn({ vendor, pool: deps.pool }, 'vendor paused: nothing is called, its jobs wait');
      else if (resumed) logger.info({ vendor, pool: deps.pool }, 'vendor resumed: draining its jobs at the quota');
      const retireCtl = new AbortController();
      const runtime: VendorRuntime = { spec, breaker, retired: retireCtl.signal };
      const consumer = startVendorConsumer({
        runtime,
        blocking: redis.duplicate(),
        redis,
        consumerName,
        slots,
        // A fair share among the vendors that read: a paused one takes no slots.
        maxBatch: () => Math.max(1, Math.ceil(deps.concurrency / Math.max(1, [...running.values()].filter((r) => !r.runtime.spec.paused).length))),
        process: process_,
        signals,
        metrics,
        logger,
        visibilityTimeoutMs: o.visibilityTimeoutMs,
        blockMs: o.blockMs,
        now,
      });
      running.set(vendor, { specJson, runtime, consumer, retire: retireCtl });
      logger.info({ vendor, pool: deps.pool }, 'consuming vendor stream');
    }
  }

  const every = (ms: number, what: string, fn: () => Promise<unknown>) => {
    let busy = false;
    const t = setInterval(() => {
      if (busy) return; // never overlap a slow pass with the next one
      busy = true;
      fn()
        .catch((e: unknown) => logger.warn({ err: e }, `${what} failed`))
        .finally(() => (busy = false));
    }, ms);
    timers.push(t);
  };

  const vendorSpecs = () => new Map([...running].map(([v, r]) => [v, r.runtime.spec]));

  const sweep = async () => {
    // Redis losing its data is noticed here, before the sweep: the lost jobs are queued at once.
    await recoverIfDataLost({ store: deps.store, redis, pool: deps.pool, vendors: vendorSpecs, holder: consumerName, metrics, logger, now });
    return sweepOnce({
      store: deps.store,
      redis,
      pool: deps.pool,
      vendors: vendorSpecs,
      registeredVendors: () => new Set(deps.registry.vendors().keys()),
      holdPending,
      pendingTimeoutMs: o.pendingTimeoutMs,
      intervalMs: o.sweepIntervalMs,
      ...(o.unservedFailAfterMs !== undefined ? { unservedFailAfterMs: o.unservedFailAfterMs } : {}),
      metrics,
      logger,
      now,
    });
  };

  return {
    async run() {
      if (started) throw new Error('worker already running');
      started = true;
      deps.registry.onChange(reconcile);
      await deps.registry.start();
      reconcile(deps.registry.vendors());
      every(o.promoteIntervalMs, 'promoting due retries', async () => {
        for (const vendor of running.keys()) await queue.promoteDue(redis, vendor, now());
      });
      every(o.sweepIntervalMs, 'sweeping overdue jobs', sweep);
      const retentionIntervalMs = o.retentionIntervalMs ?? DEFAULT_RETENTION_INTERVAL_MS;
      every(retentionIntervalMs, 'retention', () =>
        retainOnce({
          store: deps.store,
          redis,
          intervalMs: retentionIntervalMs,
          ...(o.finishedJobRetentionMs !== undefined ? { finishedJobRetentionMs: o.finishedJobRetentionMs } : {}),
          ...(o.idempotencyKeyTtlMs !== undefined ? { idempotencyKeyTtlMs: o.idempotencyKeyTtlMs } : {}),
          metrics,
          logger,
          now,
        }),
      );
      every(o.backlogIntervalMs, 'measuring backlog', async () => {
        for (const [vendor, r] of running) {
          const b = await queue.streamBacklog(redis, vendor);
          metrics.streamLag.set({ vendor }, b.lag);
          metrics.streamPending.set({ vendor }, b.pending);
          await redis.set(keys.circuit(vendor), r.runtime.breaker.state());
          await queue.trimAcknowledged(redis, vendor).catch((err: unknown) => {
            // Not fatal (the next pass trims), but a stream that is never trimmed grows without end.
            logger.warn({ err, vendor }, 'trimming acknowledged stream entries failed');
          });
        }
      });
      callbackSender.start();
      logger.info({ concurrency: deps.concurrency, consumer: consumerName }, 'worker started');
    },

    close: () =>
      (closing ??= (async () => {
        stopping.abort();
        timers.forEach(clearInterval);
        for (const vendor of [...running.keys()]) retire(vendor);
        const drained = Promise.allSettled([...retiring]);
        const deadline = setTimeout(() => {
          logger.warn('drain deadline passed; aborting calls still in flight (their entries stay pending for reclaim)');
          hardStop.abort();
        }, o.drainTimeoutMs);
        // A job stuck on a Redis or store call that never returns (outage) must not hold the
        // process forever: give up waiting shortly after the drain deadline.
        await Promise.race([drained, new Promise((r) => setTimeout(r, o.drainTimeoutMs + 2000).unref())]);
        clearTimeout(deadline);
        slots.close();
        // Deliveries in flight finish (each bounded by its timeout); an unsettled one is due again after its lease.
        await callbackSender.close();
        await deps.registry.stop();
        logger.info('worker stopped');
      })()),

    vendors: () => [...running.keys()],
    sweep,
  };
}
