// How many workers a pool wants: replicas = clamp(ceil(lag / targetLagPerReplica), min, max),
// with HPA's scale-down stabilisation: the answer is the highest recommendation seen within the
// last `scaleDownStabilizationSeconds`, so a short dip in lag does not kill workers that will be
// needed again a moment later. Scaling up is immediate (the max already includes "now").
import type { WorkersSpec } from '../core/vendorpool.js';

export interface Recommendation {
  /** When the recommendation was made (ms since epoch). */
  at: number;
  replicas: number;
}

export interface ScaleDecision {
  /** What the pool should run now. */
  replicas: number;
  /** The clamped recommendation for this lag alone, before stabilisation. */
  recommended: number;
  /** The history to pass to the next call (pruned to the window). */
  history: Recommendation[];
}

type ScalingSpec = Pick<WorkersSpec, 'minReplicas' | 'maxReplicas' | 'targetLagPerReplica' | 'scaleDownStabilizationSeconds'>;

export const clamp = (n: number, min: number, max: number): number => Math.min(max, Math.max(min, n));

/** The recommendation for this lag alone. A negative or non-finite lag counts as 0. */
export function recommendReplicas(lag: number, spec: ScalingSpec): number {
  const safeLag = Number.isFinite(lag) && lag > 0 ? lag : 0;
  return clamp(Math.ceil(safeLag / spec.targetLagPerReplica), spec.minReplicas, spec.maxReplicas);
}

export function desiredReplicas(lag: number, spec: ScalingSpec, history: readonly Recommendation[], now: number): ScaleDecision {
  const recommended = recommendReplicas(lag, spec);
  const windowStart = now - spec.scaleDownStabilizationSeconds * 1000;
  // Old recommendations are clamped again: a spec edit (say a lower max) takes effect at once.
  const kept = history
    .filter((r) => r.at > windowStart && r.at <= now)
    .map((r) => ({ at: r.at, replicas: clamp(r.replicas, spec.minReplicas, spec.maxReplicas) }));
  const next = [...kept, { at: now, replicas: recommended }];
  const replicas = Math.max(...next.map((r) => r.replicas));
  return { replicas, recommended, history: next };
}
