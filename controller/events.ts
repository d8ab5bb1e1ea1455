// Kubernetes Events on a VendorPool (`kubectl describe vp` shows them). Only for transitions
// worth a human's attention (a pool turning Degraded, or Degraded for a new reason), never per
// pass, so a pool stuck in one state does not flood the namespace. Best effort: a failed Event
// is logged and never fails a reconcile.
import type { CoreV1Event } from '@kubernetes/client-node';
import { API_VERSION, type VendorPoolObject } from './api-types.js';
import type { Condition } from './conditions.js';
import type { KubeClient } from './kube.js';

export const EVENT_SOURCE = 'vendorfetch-controller';

export interface PoolEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** The Warning to record when Degraded turned True or changed its reason; else undefined. */
export function degradedTransition(before: readonly Condition[] | undefined, after: readonly Condition[]): PoolEvent | undefined {
  const prev = before?.find((c) => c.type === 'Degraded');
  const next = after.find((c) => c.type === 'Degraded');
  if (next?.status !== 'True') return undefined;
  if (prev?.status === 'True' && prev.reason === next.reason) return undefined;
  return { type: 'Warning', reason: next.reason, message: next.message };
}

/** A core/v1 Event about the pool (involvedObject with uid, so it is listed with the pool). */
export function poolEventObject(pool: VendorPoolObject, e: PoolEvent, now: Date, host: string): CoreV1Event {
  const at = now.toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { generateName: `${pool.metadata.name}.`, namespace: pool.metadata.namespace },
    involvedObject: {
      apiVersion: API_VERSION,
      kind: 'VendorPool',
      name: pool.metadata.name,
      namespace: pool.metadata.namespace,
      uid: pool.metadata.uid,
      ...(pool.metadata.resourceVersion ? { resourceVersion: pool.metadata.resourceVersion } : {}),
    },
    type: e.type,
    reason: e.reason,
    message: e.message.slice(0, 1024),
    source: { component: EVENT_SOURCE, host },
    reportingComponent: EVENT_SOURCE,
    reportingInstance: host,
    firstTimestamp: at as unknown as Date,
    lastTimestamp: at as unknown as Date,
    count: 1,
  };
}

export async function recordPoolEvent(kube: KubeClient, pool: VendorPoolObject, e: PoolEvent, now: Date, host: string): Promise<void> {
  await kube.request({ method: 'POST', path: `/api/v1/namespaces/${pool.metadata.namespace}/events`, body: poolEventObject(pool, e, now, host) });
}
