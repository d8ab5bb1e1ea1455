// The planning chain both controllers run for a pool, written once: vendor-name claims →
// publish the pool's vendors to the registry → measure their stream lag → desired replicas.
// Kubernetes mode (reconcile.ts) applies the answer to a Deployment, local mode (local.ts) to
// child processes. It throws when Redis cannot be reached: each caller decides what the pool's
// workers do then.
import type { Redis } from 'ioredis';
import type { VendorRegistry } from '../core/registry.js';
import type { VendorSpec, WorkersSpec } from '../core/vendorpool.js';
import { poolLag, type PoolLag } from './lag.js';
import { desiredReplicas, type Recommendation, type ScaleDecision } from './scaling.js';
import { crossPoolConflicts, type PoolClaim } from './validate.js';

export interface PlanIO {
  registry: VendorRegistry;
  redis: Redis;
}

export interface PoolPlanInput {
  /** This pool's key, creation order and vendor names. */
  claim: PoolClaim;
  /** Every pool's claim (this pool's own may be among them): earlier pools keep contested names. */
  claims: readonly PoolClaim[];
  vendors: readonly VendorSpec[];
  workers: WorkersSpec;
  /** The scale-down stabilisation memory from the pool's previous plan. */
  history: readonly Recommendation[];
  now: number;
}

export interface VendorConflict {
  vendor: string;
  /** The earlier pool that claims it; undefined when the registry refused it (its owner is a pool this controller has not seen). */
  owner?: string;
}

export interface PoolPlan {
  conflicts: VendorConflict[];
  /** Lag of the vendors this pool owns (conflicting ones are not its to serve). */
  lag: PoolLag;
  scale: ScaleDecision;
}

export async function planPool(io: PlanIO, input: PoolPlanInput): Promise<PoolPlan> {
  // The registry refuses names another pool already owns, which also covers pools the caller
  // does not know about yet (on Kubernetes: not yet in the informer's cache).
  const taken = crossPoolConflicts(input.claim, input.claims);
  const mine = input.vendors.filter((v) => !taken.has(v.name));
  const refused = await io.registry.publish(input.claim.key, mine);
  const lag = await poolLag(io.redis, mine.filter((v) => !refused.includes(v.name)));
  return {
    conflicts: [...[...taken].map(([vendor, owner]) => ({ vendor, owner })), ...refused.map((vendor) => ({ vendor }))],
    lag,
    scale: desiredReplicas(lag.total, input.workers, input.history, input.now),
  };
}

export const describeConflict = (c: VendorConflict): string => `${c.vendor} (owned by ${c.owner ?? 'another pool'})`;
