// Why workers are not ready, as the pool's status can say it: pods the scheduler cannot place
// (a nodeSelector no node matches, taints without tolerations, too little room) stay Pending
// with PodScheduled=False/Unschedulable and the scheduler's reason. The Deployment's own status
// does not carry that, so the reconciler reads the pool's pods when some are not ready.
import type { V1Pod } from '@kubernetes/client-node';

export interface PodScheduling {
  /** Worker pods in phase Pending (not being deleted). */
  pending: number;
  /** Of those, the ones the scheduler reported as unschedulable. */
  unschedulable: number;
  /** The scheduler's message for the first unschedulable pod. */
  message?: string;
}

export function workerPodScheduling(pods: readonly V1Pod[]): PodScheduling {
  let pending = 0;
  let unschedulable = 0;
  let message: string | undefined;
  for (const p of pods) {
    if (p.metadata?.deletionTimestamp || p.status?.phase !== 'Pending') continue;
    pending++;
    const scheduled = p.status.conditions?.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
      unschedulable++;
      message ??= `${p.metadata?.name ?? 'a pod'}: ${scheduled.message ?? 'unschedulable'}`;
    }
  }
  return { pending, unschedulable, ...(message !== undefined ? { message } : {}) };
}
