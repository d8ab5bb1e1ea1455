// Every Redis key vendorfetch uses, in one place. `{vendor}` hash tags keep one vendor's keys
// in one Redis Cluster slot, so multi-key Lua scripts stay legal there.
import type { Priority } from './job.js';

/**
 * A priority lane's suffix: none for normal, so the normal lane keeps the names the one-lane
 * queue had (entries queued before lanes existed are served as normal, with no migration).
 */
const laneSuffix = (lane: Priority): string => (lane === 'normal' ? '' : `:${lane}`);

export const keys = {
  /** Stream of one priority lane's jobs waiting for a worker: entries { id: request_id }. */
  stream: (vendor: string, lane: Priority) => `vf:{${vendor}}:jobs${laneSuffix(lane)}`,
  /** Consumer group name on every vendor stream. */
  group: 'workers',
  /** One lane's retries waiting for their backoff: member request_id, score due time (ms); promoted into the same lane. */
  delayed: (vendor: string, lane: Priority) => `vf:{${vendor}}:delayed${laneSuffix(lane)}`,
  /** Dead-letter stream: entries { id, error, attempts }. */
  deadLetter: (vendor: string) => `vf:{${vendor}}:dead`,
  /**
   * A worker's liveness for one vendor stream (SET PX, refreshed every second or so). When it
   * has lapsed, the consumer is taken for dead and its pending entries are reclaimed at once,
   * instead of after the visibility timeout.
   */
  consumerAlive: (vendor: string, consumer: string) => `vf:{${vendor}}:alive:${consumer}`,
  /** Quota state (rolling-window log, in-flight set, slow-down-until). */
  quota: (vendor: string, part: 'window' | 'inflight' | 'pause') => `vf:{${vendor}}:quota:${part}`,
  /** Circuit state published by workers for status reporting: "closed" | "open" | "half-open". */
  circuit: (vendor: string) => `vf:{${vendor}}:circuit`,
  /** Hash vendor name → JSON RegistryEntry. */
  registry: 'vf:registry',
  /** Pub/sub channel announcing registry changes (a hint; readers also poll). */
  registryChanged: 'vf:registry:changed',
  /** Hash request_id → vendor calls that do not count against maxAttempts (answered 429). */
  freeCalls: (vendor: string) => `vf:{${vendor}}:freecalls`,
  /**
   * A random value set once (SET NX) by the first worker; when it is gone, Redis lost its data.
   * Each pool then re-queues its own pending jobs from the store (see recoveredEpoch).
   */
  epoch: 'vf:epoch',
  /**
   * The epoch a pool has recovered for. Kept in Redis, not in a worker's memory: if it differs
   * from `epoch`, any worker of the pool recovers (again), so a worker dying mid-recovery, or
   * the one that set the new epoch, leaves no pool behind. Lost with the data, like `epoch`.
   */
  recoveredEpoch: (pool: string) => `vf:recovered:${pool}`,
  /** One worker of a pool recovers at a time (SET NX PX; expires if that worker dies). */
  recoveryLock: (pool: string) => `vf:recovering:${pool}`,
  /** Lock held by the one sweeper of a worker pool at a time (SET NX PX). */
  sweeperLock: (pool: string) => `vf:sweeper:${pool}`,
  /** An Idempotency-Key whose first request is still being handled (SET NX PX): repeats are refused meanwhile. */
  idempotencyInFlight: (scopedKeyHash: string) => `vf:idem:${scopedKeyHash}`,
  /** Lock held by the one worker (of any pool) running retention at a time (SET NX PX). */
  retentionLock: 'vf:retention:lock',
  /**
   * Result cache (opt-in per vendor): the cleaned answer for one canonical payload, as JSON
   * (SET EX ttlSeconds). `hash` is sha256 over the payload and what shapes the answer (url, cleaning).
   */
  cacheEntry: (vendor: string, hash: string) => `vf:{${vendor}}:cache:${hash}`,
  /** Single flight for one cache entry: the worker calling the vendor for it (SET NX PX, a lease). */
  cacheLock: (vendor: string, hash: string) => `vf:{${vendor}}:cachelock:${hash}`,
  /** Webhook ids already processed, for replay protection (SET NX with a TTL). */
  webhookSeen: (vendor: string, webhookId: string) => `vf:{${vendor}}:webhook:${webhookId}`,
} as const;
