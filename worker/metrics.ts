// The worker's Prometheus metrics (vendorfetch_*), on a registry of its own (no globals); the
// probe server (core/probe-server.ts) serves them.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CircuitName } from './breaker.js';

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

export const CIRCUIT_STATES: readonly CircuitName[] = ['closed', 'open', 'half-open'];

/**
 * The breaker as a state-set (OpenMetrics' StateSet, kube-state-metrics style): one series per
 * state, 1 for the current one, 0 for the others — so `== 1` selects it and `sum by (state)`
 * counts breakers per state, which a 0/1/2 enum cannot do.
 */
export function setCircuitState(gauge: Gauge<'vendor' | 'state'>, vendor: string, current: CircuitName): void {
  for (const state of CIRCUIT_STATES) gauge.set({ vendor, state }, state === current ? 1 : 0);
}

export function createWorkerMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  // Standard names (process_*, nodejs_*), unprefixed, so stock Node.js dashboards work; the
  // scrape's job/pod labels tell the programs apart.
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    jobsFinished: new Counter({
      name: 'vendorfetch_jobs_finished_total',
      help: 'Jobs that the worker brought to a final status, by vendor and status (complete|failed); cancels are counted by the api (vendorfetch_jobs_cancelled_total).',
      labelNames: ['vendor', 'status'] as const,
      registers,
    }),
    jobDuration: new Histogram({
      name: 'vendorfetch_job_duration_seconds',
      help: 'End to end: from POST /jobs (created_at) to the final status, by vendor and status.',
      labelNames: ['vendor', 'status'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    vendorCalls: new Counter({
      name: 'vendorfetch_vendor_calls_total',
      help: 'Vendor calls by vendor and result code (HTTP status, timeout, unreachable, circuit_open).',
      labelNames: ['vendor', 'code'] as const,
      registers,
    }),
    vendorCallDuration: new Histogram({
      name: 'vendorfetch_vendor_call_duration_seconds',
      help: 'Duration of vendor calls by vendor and result code.',
      labelNames: ['vendor', 'code'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    quotaWait: new Histogram({
      name: 'vendorfetch_quota_wait_seconds',
      help: 'Time a job waited for its vendor quota before the call.',
      labelNames: ['vendor'] as const,
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    circuitState: new Gauge({
      name: 'vendorfetch_circuit_state',
      help: 'Circuit breaker state in this worker, as a state-set: 1 for the current state (closed, open, half-open), 0 for the others.',
      labelNames: ['vendor', 'state'] as const,
      registers,
    }),
    vendorPaused: new Gauge({
      name: 'vendorfetch_vendor_paused',
      help: 'spec.vendors[].paused as this worker follows it: 1 while the vendor is paused (nothing is called, its jobs wait), else 0.',
      labelNames: ['vendor'] as const,
      registers,
    }),
    quotaLimit: new Gauge({
      name: 'vendorfetch_quota_requests_per_second',
      help: "The vendor's quota this worker enforces (requestsPerSecond, across every worker): the line to draw calls per second against.",
      labelNames: ['vendor'] as const,
      registers,
    }),
    streamLag: new Gauge({
      name: 'vendorfetch_stream_lag',
      help: 'Stream entries not yet delivered to any worker.',
      labelNames: ['vendor'] as const,
      registers,
    }),
    streamPending: new Gauge({
      name: 'vendorfetch_stream_pending',
      help: 'Stream entries delivered but not yet acknowledged.',
      labelNames: ['vendor'] as const,
      registers,
    }),
    retries: new Counter({
      name: 'vendorfetch_retries_total',
      help: 'Jobs put back for a later try, by vendor and reason (failure, rate_limited, circuit_open).',
      labelNames: ['vendor', 'reason'] as const,
      registers,
    }),
    callbacks: new Counter({
      name: 'vendorfetch_callbacks_total',
      help: 'Completion-callback delivery attempts by vendor and outcome: delivered, retry (another attempt is scheduled), dead_letter (last attempt failed, or refused: address, redirect, allowlist).',
      labelNames: ['vendor', 'outcome'] as const,
      registers,
    }),
    cacheLookups: new Counter({
      name: 'vendorfetch_cache_lookups_total',
      help: 'Result-cache lookups of vendors with a cache, by vendor and result (hit: completed from the cache without a vendor call; miss: the vendor was called). Hit rate = hit / (hit + miss).',
      labelNames: ['vendor', 'result'] as const,
      registers,
    }),
    deadLettered: new Counter({
      name: 'vendorfetch_dead_lettered_total',
      help: 'Jobs failed and written to the dead-letter stream.',
      labelNames: ['vendor'] as const,
      registers,
    }),
    completionConflicts: new Counter({
      name: 'vendorfetch_completion_conflicts_total',
      help: 'Vendor answers not stored because the job was already finished (another worker or a webhook won the compare-and-set).',
      labelNames: ['vendor'] as const,
      registers,
    }),
    cancelledAnswersDropped: new Counter({
      name: 'vendorfetch_cancelled_answers_dropped_total',
      help: 'Vendor answers dropped because the client cancelled the job while its call was in flight.',
      labelNames: ['vendor'] as const,
      registers,
    }),
    reclaimed: new Counter({
      name: 'vendorfetch_reclaimed_entries_total',
      help: 'Stream entries taken over from workers that stopped acknowledging (XAUTOCLAIM).',
      labelNames: ['vendor'] as const,
      registers,
    }),
    swept: new Counter({
      name: 'vendorfetch_swept_jobs_total',
      help: 'Overdue jobs handled by the sweeper, by vendor and action (requeue, retry, fail, recover, unserved).',
      labelNames: ['vendor', 'action'] as const,
      registers,
    }),
    retention: new Counter({
      name: 'vendorfetch_retention_removed_total',
      help: 'What retention removed: finished_jobs deleted, idempotency_keys freed.',
      labelNames: ['what'] as const,
      registers,
    }),
    unservedJobs: new Gauge({
      name: 'vendorfetch_unserved_jobs',
      help: 'Overdue unfinished jobs of vendors that no pool serves (a deleted pool, or a vendor removed from one), as last seen by this worker\'s sweeper; take the max across workers.',
      labelNames: ['vendor'] as const,
      registers,
    }),
  };
}
