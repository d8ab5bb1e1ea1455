// Every Redis key vendorfetch uses, in one place. `{vendor}` hash tags keep one vendor's keys
// in one Redis Cluster slot, so multi-key Lua scripts stay legal there.

export const keys = {
  /** Stream of jobs waiting for a worker: entries { id: request_id }. */
  stream: (vendor: string) => `vf:{${vendor}}:jobs`,
  /** Consumer group name on every vendor stream. */
  group: 'workers',
  /** Sorted set of retries waiting for their backoff: member request_id, score due time (ms). */
  delayed: (vendor: string) => `vf:{${vendor}}:delayed`,
  /** Dead-letter stream: entries { id, error, attempts }. */
  deadLetter: (vendor: string) => `vf:{${vendor}}:dead`,
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
   * A random value set once (SET NX) by the first worker; when it is gone, Redis lost its data
   * and the worker that sets a new one re-queues every pending job from the store at once.
   */
  epoch: 'vf:epoch',
  /** Lock held by the one sweeper of a worker pool at a time (SET NX PX). */
  sweeperLock: (pool: string) => `vf:sweeper:${pool}`,
  /** Webhook ids already processed, for replay protection (SET NX with a TTL). */
  webhookSeen: (vendor: string, webhookId: string) => `vf:{${vendor}}:webhook:${webhookId}`,
} as const;
