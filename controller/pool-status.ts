// A VendorPool's status, built from what one reconcile pass observed and from nothing else: a
// field the pass could not observe is left out, not carried over, so after an invalid spec or
// during a Redis outage `kubectl get vp` shows no replicas or lag rather than old numbers that
// look current. The conditions are derived here too, as a pure function of the same
// observation; only their transition times come from the previous status.
import type { V1Deployment } from '@kubernetes/client-node';
import type { VendorPoolStatus } from './api-types.js';
import { initConditions, setCondition, type Condition, type ConditionUpdate } from './conditions.js';
import { describeConflict, type PoolPlan } from './plan.js';
import type { PodScheduling } from './pods.js';

/** The worker Deployment as the apply returned it. */
export interface WorkerRollout {
  /** Replicas it runs now: ours, or the autoscaler's with external scaling. */
  replicas: number;
  ready: number;
  updated: number;
  /** The Deployment controller has seen the latest template and updated every replica. */
  rolledOut: boolean;
}

type Published = Pick<PoolPlan, 'conflicts' | 'lag'>;

/** How a pass ended, with what it saw on the way. */
export type PoolObservation =
  | { outcome: 'InvalidSpec'; message: string }
  | { outcome: 'NoWorkerStore'; message: string; vendorNames: string[] }
  | { outcome: 'RegistryUnavailable'; message: string; vendorNames: string[] }
  | { outcome: 'ApplyFailed'; message: string; vendorNames: string[]; plan: Published }
  | { outcome: 'Applied'; vendorNames: string[]; plan: Published; rollout: WorkerRollout; scheduling: PodScheduling };

export function rolloutOf(applied: V1Deployment, wanted: number): WorkerRollout {
  const replicas = applied.spec?.replicas ?? wanted;
  const updated = applied.status?.updatedReplicas ?? 0;
  return {
    replicas,
    ready: applied.status?.readyReplicas ?? 0,
    updated,
    rolledOut: (applied.status?.observedGeneration ?? 0) >= (applied.metadata?.generation ?? 0) && updated >= replicas,
  };
}

export const allWorkersReady = (r: WorkerRollout): boolean => r.ready >= r.replicas && r.rolledOut;

function conflictCondition(plan: Published): ConditionUpdate {
  return plan.conflicts.length > 0
    ? { type: 'Conflict', status: 'True', reason: 'VendorNameTaken', message: `vendor names used by another pool: ${plan.conflicts.map(describeConflict).join(', ')}` }
    : { type: 'Conflict', status: 'False', reason: 'NoConflict', message: 'every vendor name belongs to this pool' };
}

/**
 * A pass that could not finish: not Ready and Degraded for the same reason; what it could not
 * check is said in Progressing and Conflict.
 */
function unfinished(
  reason: string,
  message: string,
  progressing: Pick<ConditionUpdate, 'status' | 'message'>,
  conflict: ConditionUpdate | string,
): ConditionUpdate[] {
  return [
    { type: 'Ready', status: 'False', reason, message },
    { type: 'Progressing', reason, ...progressing },
    { type: 'Degraded', status: 'True', reason, message },
    typeof conflict === 'string' ? { type: 'Conflict', status: 'Unknown', reason, message: conflict } : conflict,
  ];
}

/** Ready, Progressing, Degraded and Conflict for an observation: every type, every time. */
export function poolConditions(o: PoolObservation): ConditionUpdate[] {
  switch (o.outcome) {
    case 'InvalidSpec':
      return unfinished(o.outcome, o.message, { status: 'False', message: 'fix the spec to continue' }, 'vendor names are not checked while the spec is invalid');
    case 'NoWorkerStore':
      return unfinished(
        o.outcome,
        o.message,
        { status: 'False', message: 'no worker Deployment is made until the controller has a store for workers' },
        'vendor names are not published without a store for workers',
      );
    case 'RegistryUnavailable':
      return unfinished(o.outcome, o.message, { status: 'Unknown', message: 'the worker Deployment is left as it is until Redis is back' }, 'the registry cannot be read');
    case 'ApplyFailed':
      return unfinished(o.outcome, o.message, { status: 'Unknown', message: 'the worker Deployment could not be applied' }, conflictCondition(o.plan));
    case 'Applied': {
      const { replicas, ready, updated, rolledOut } = o.rollout;
      const unschedulable = o.scheduling.unschedulable;
      const readyCondition: ConditionUpdate =
        o.plan.conflicts.length > 0
          ? { type: 'Ready', status: 'False', reason: 'VendorConflict', message: 'some vendors belong to another pool (see Conflict)' }
          : allWorkersReady(o.rollout)
            ? { type: 'Ready', status: 'True', reason: 'WorkersReady', message: `${ready}/${replicas} workers ready` }
            : unschedulable > 0
              ? { type: 'Ready', status: 'False', reason: 'WorkersUnschedulable', message: `${ready}/${replicas} workers ready; ${unschedulable} pod(s) cannot be scheduled: ${o.scheduling.message ?? ''}` }
              : { type: 'Ready', status: 'False', reason: 'WorkersNotReady', message: `${ready}/${replicas} workers ready` };
      return [
        readyCondition,
        rolledOut
          ? { type: 'Progressing', status: 'False', reason: 'Stable', message: `${replicas} worker(s) rolled out` }
          : { type: 'Progressing', status: 'True', reason: 'RollingOut', message: `${updated}/${replicas} workers updated` },
        { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'registry published and Deployment applied' },
        conflictCondition(o.plan),
      ];
    }
  }
}

export type PoolStatus = VendorPoolStatus & { conditions: Condition[] };

/** The whole status for an observation. `previous`: the conditions now on the pool (their transition times carry over). */
export function poolStatus(o: PoolObservation, previous: readonly Condition[] | undefined, generation: number | undefined, at: Date): PoolStatus {
  let conditions = initConditions(previous ?? [], generation, at);
  for (const update of poolConditions(o)) conditions = setCondition(conditions, update, generation, at);
  const status: PoolStatus = { conditions };
  if (generation !== undefined) status.observedGeneration = generation;
  if (o.outcome !== 'InvalidSpec') status.vendorNames = o.vendorNames.join(',');
  if (o.outcome === 'ApplyFailed' || o.outcome === 'Applied') {
    status.lag = o.plan.lag.total;
    status.vendors = o.plan.lag.vendors.map((v) => ({ name: v.name, lag: v.lag, pending: v.pending, circuit: v.circuit, paused: v.paused }));
  }
  if (o.outcome === 'Applied') {
    status.replicas = o.rollout.replicas;
    status.readyReplicas = o.rollout.ready;
    status.pendingPods = o.scheduling.pending;
    status.unschedulablePods = o.scheduling.unschedulable;
  }
  return status;
}
