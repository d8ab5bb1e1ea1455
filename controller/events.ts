// Kubernetes Events (events.k8s.io/v1) on VendorPools — `kubectl describe vp` lists them — and on
// the leader Lease. Only for what a human should notice, each once per transition, never per
// pass, so a pool stuck in one state does not flood the namespace:
//   Scaled (Normal)                  the controller changed the worker replicas (from → to, lag)
//   InvalidSpec, RegistryUnavailable, NoWorkerStore, ApplyFailed (Warning)
//                                    the pool turned Degraded, or Degraded for a new reason
//   VendorNameTaken (Warning)        the pool's Conflict condition turned True or changed
//   LeaderElected (Normal)           a controller replica took the lead (on the Lease and on
//                                    every pool it now reconciles)
// Best effort: a failed Event is logged by the caller and never fails a reconcile.
import { randomBytes } from 'node:crypto';
import { API_VERSION, paths, type VendorPoolObject } from './api-types.js';
import type { Condition } from './conditions.js';
import type { KubeClient } from './kube.js';

/** events.k8s.io/v1 wants a qualified name for the reporting controller. */
export const REPORTING_CONTROLLER = 'vendorfetch.io/controller';

export interface PoolEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  /** What the controller was doing (events.k8s.io/v1 `action`). */
  action: string;
  note: string;
}

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

/** The action during which each Degraded reason arises. */
const DEGRADED_ACTION: Record<string, string> = {
  InvalidSpec: 'Validate',
  RegistryUnavailable: 'PublishRegistry',
  NoWorkerStore: 'Reconcile',
  ApplyFailed: 'ApplyDeployment',
};

/** A Warning when condition `type` turned True or changed its reason or message; else undefined. */
function turnedTrue(type: string, before: readonly Condition[] | undefined, after: readonly Condition[], action: string): PoolEvent | undefined {
  const prev = before?.find((c) => c.type === type);
  const next = after.find((c) => c.type === type);
  if (next?.status !== 'True') return undefined;
  if (prev?.status === 'True' && prev.reason === next.reason && prev.message === next.message) return undefined;
  return { type: 'Warning', reason: next.reason, action, note: next.message };
}

/**
 * The Warnings a status write calls for: Degraded turning True (or True for a new reason), and
 * Conflict turning True (or naming other vendors). Degraded compares reasons only: its message
 * may carry a changing error text, which is not a new story.
 */
export function conditionEvents(before: readonly Condition[] | undefined, after: readonly Condition[]): PoolEvent[] {
  const out: PoolEvent[] = [];
  const prev = before?.find((c) => c.type === 'Degraded');
  const next = after.find((c) => c.type === 'Degraded');
  if (next?.status === 'True' && !(prev?.status === 'True' && prev.reason === next.reason)) {
    out.push({ type: 'Warning', reason: next.reason, action: DEGRADED_ACTION[next.reason] ?? 'Reconcile', note: next.message });
  }
  const conflict = turnedTrue('Conflict', before, after, 'PublishRegistry');
  if (conflict) out.push(conflict);
  return out;
}

/** The Normal event for a replica change made by the built-in scaler. */
export function scaledEvent(from: number, to: number, lag: number, targetLagPerReplica: number): PoolEvent {
  return {
    type: 'Normal',
    reason: 'Scaled',
    action: 'Scale',
    note: `scaled workers from ${from} to ${to} (lag ${lag}, target ${targetLagPerReplica} per replica)`,
  };
}

export const poolRef = (pool: VendorPoolObject): ObjectRef => ({
  apiVersion: API_VERSION,
  kind: 'VendorPool',
  name: pool.metadata.name,
  namespace: pool.metadata.namespace,
  uid: pool.metadata.uid,
});

/** MicroTime (RFC 3339 with exactly six fractional digits), as the API server parses it. */
const microTime = (d: Date): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/**
 * An events.k8s.io/v1 Event about `regarding`, in its namespace. Named like client-go's
 * recorder does (<object>.<hex time>, plus a random tail for two Events in one instant):
 * events.k8s.io refuses a generateName ending in ".".
 */
export function eventObject(regarding: ObjectRef, e: PoolEvent, now: Date, instance: string): Record<string, unknown> {
  const name = `${regarding.name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`;
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name, namespace: regarding.namespace },
    regarding,
    type: e.type,
    reason: e.reason,
    action: e.action,
    note: e.note.slice(0, 1024),
    eventTime: microTime(now),
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: instance.slice(0, 128),
  };
}

export async function recordEvent(kube: KubeClient, regarding: ObjectRef, e: PoolEvent, now: Date, instance: string): Promise<void> {
  await kube.request({
    method: 'POST',
    path: `/apis/events.k8s.io/v1/namespaces/${regarding.namespace}/events`,
    body: eventObject(regarding, e, now, instance),
  });
}

export interface LeaderAnnouncement {
  identity: string;
  lease: { namespace: string; name: string };
  /** Pools of this namespace only (VF_WATCH_NAMESPACE); default all. */
  namespace?: string;
  now?: () => Date;
}

/**
 * A new leader says so on its Lease (as client-go's elector does) and on every pool it now
 * reconciles, so `kubectl describe vp` shows which replica acts on a pool since when. Returns
 * the errors (each Event is independent; one failure does not stop the others).
 */
export async function announceLeader(kube: KubeClient, a: LeaderAnnouncement): Promise<Error[]> {
  const now = (a.now ?? (() => new Date()))();
  const errors: Error[] = [];
  const record = (ref: ObjectRef, e: PoolEvent) => recordEvent(kube, ref, e, now, a.identity).catch((err: Error) => void errors.push(err));
  await record(
    { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: a.lease.name, namespace: a.lease.namespace },
    { type: 'Normal', reason: 'LeaderElection', action: 'Lead', note: `${a.identity} became leader` },
  );
  let pools: VendorPoolObject[] = [];
  try {
    pools = (await kube.request<{ items: VendorPoolObject[] }>({ method: 'GET', path: paths.pools(a.namespace) })).items;
  } catch (err) {
    errors.push(err as Error);
  }
  const note = `controller ${a.identity} was elected leader and reconciles this pool`;
  await Promise.all(pools.map((p) => record(poolRef(p), { type: 'Normal', reason: 'LeaderElected', action: 'Lead', note })));
  return errors;
}
