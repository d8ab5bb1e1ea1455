// One reconcile story for one VendorPool (level-triggered, idempotent; safe to run any number
// of times): get → finalizer → initialise conditions → validate / Conflict → publish the
// registry → server-side apply the worker Deployment and its PodDisruptionBudget → replicas from
// lag (or, with spec.workers.scaling external, left to an HPA/KEDA) → why workers are not ready
// (unschedulable pods) → status, written once. Events (events.ts) for scaling and for a pool
// turning Degraded or Conflict.
import os from 'node:os';
import type { V1Deployment, V1PodDisruptionBudget, V1PodList } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import type { Logger } from '../core/logger.js';
import type { VendorRegistry } from '../core/registry.js';
import type { VendorPoolSpec } from '../core/vendorpool.js';
import { FIELD_MANAGER, FINALIZER, paths, poolKey, splitKey, type VendorPoolObject, type VendorPoolStatus } from './api-types.js';
import { initConditions, sameConditions, setCondition, type Condition, type ConditionUpdate } from './conditions.js';
import { deploymentName, desiredDeployment, missingWorkerConfig, selectorLabels, type DeploymentOptions } from './deployment.js';
import { conditionEvents, poolRef, recordEvent, scaledEvent, type PoolEvent } from './events.js';
import { CONTENT, isKubeError, type KubeClient } from './kube.js';
import { poolLag, type PoolLag } from './lag.js';
import type { ControllerMetrics } from './metrics.js';
import { workerPodScheduling } from './pods.js';
import { desiredReplicas, type Recommendation } from './scaling.js';
import { crossPoolConflicts, validatePoolSpec, type PoolClaim } from './validate.js';
import { desiredPdb, pdbName, validateWorkerPod, workerPodSettings, type WorkerPodSettings } from './worker-pod.js';

export interface ReconcilerDeps {
  kube: KubeClient;
  registry: VendorRegistry;
  redis: Redis;
  /** Every VendorPool the informer knows (for cross-pool vendor-name conflicts). */
  knownPools: () => VendorPoolObject[];
  deployment: DeploymentOptions;
  metrics: ControllerMetrics;
  logger: Logger;
  /** When the pass succeeded: come back after this long to follow the lag. */
  lagPollMs: number;
  /** Reporting instance of Events. Default: the host name. */
  identity?: string;
  now?: () => number;
}

export interface ReconcileResult {
  /** Requeue after this many ms (lag polling); undefined: nothing more to do. */
  requeueAfterMs?: number;
}

/** Field manager that keeps owning a Deployment's replicas while they pass to an autoscaler. */
export const HANDOVER_MANAGER = `${FIELD_MANAGER}-handover`;

export interface Reconciler {
  reconcile(key: string): Promise<ReconcileResult>;
  /** Forget per-pool memory (scale history) — for a pool that is gone. */
  forget(key: string): void;
}

const claimOf = (p: VendorPoolObject): PoolClaim | undefined => {
  const v = validatePoolSpec(p.spec);
  if (!v.ok || p.metadata.deletionTimestamp) return undefined;
  return { key: poolKey(p.metadata), createdAt: p.metadata.creationTimestamp ?? '', vendors: v.spec.vendors.map((x) => x.name) };
};

export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { kube } = deps;
  const now = deps.now ?? Date.now;
  const history = new Map<string, Recommendation[]>();
  /** The replicas each pool's Deployment had after our last apply (for Scaled events). */
  const lastReplicas = new Map<string, number>();

  function event(pool: VendorPoolObject, e: PoolEvent): Promise<void> {
    return recordEvent(kube, poolRef(pool), e, new Date(now()), deps.identity ?? os.hostname()).catch((err: Error) =>
      deps.logger.warn({ pool: poolKey(pool.metadata), reason: e.reason, err: err.message }, 'could not record an Event'),
    );
  }

  async function get<T>(path: string): Promise<T | undefined> {
    try {
      return await kube.request<T>({ method: 'GET', path });
    } catch (err) {
      if (isKubeError(err, 404)) return undefined;
      throw err;
    }
  }

  /** JSON patch with a `test` op: fails with 422 if someone changed the finalizers meanwhile. */
  async function setFinalizers(pool: VendorPoolObject, finalizers: string[]): Promise<VendorPoolObject> {
    const { namespace, name } = pool.metadata;
    const current = pool.metadata.finalizers;
    const ops = current === undefined
      ? [{ op: 'add', path: '/metadata/finalizers', value: finalizers }]
      : [
          { op: 'test', path: '/metadata/finalizers', value: current },
          { op: 'replace', path: '/metadata/finalizers', value: finalizers },
        ];
    return kube.request<VendorPoolObject>({ method: 'PATCH', path: paths.pool(namespace, name), body: ops, contentType: CONTENT.jsonPatch });
  }

  async function finalize(pool: VendorPoolObject, key: string): Promise<ReconcileResult> {
    if (pool.metadata.finalizers?.includes(FINALIZER)) {
      // Only this pool's entries go: the Lua script never touches vendors another pool owns.
      await deps.registry.removePool(key);
      await setFinalizers(pool, pool.metadata.finalizers.filter((f) => f !== FINALIZER));
      deps.logger.info({ pool: key }, 'pool deleted: vendors removed from the registry, finalizer removed');
    }
    history.delete(key);
    lastReplicas.delete(key);
    return {};
  }

  async function reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    let pool = await get<VendorPoolObject>(paths.pool(namespace, name));
    if (!pool) {
      history.delete(key);
      lastReplicas.delete(key);
      return {};
    }
    if (pool.metadata.deletionTimestamp) return finalize(pool, key);
    if (!pool.metadata.finalizers?.includes(FINALIZER)) {
      pool = await setFinalizers(pool, [...(pool.metadata.finalizers ?? []), FINALIZER]);
    }

    const generation = pool.metadata.generation;
    const at = new Date(now());
    let conditions = initConditions(pool.status?.conditions ?? [], generation, at);
    const set = (u: ConditionUpdate) => (conditions = setCondition(conditions, u, generation, at));
    const status: VendorPoolStatus = { ...pool.status, observedGeneration: generation };

    const validation = validatePoolSpec(pool.spec);
    const podValidation = validateWorkerPod(pool.spec);
    if (!validation.ok || !podValidation.ok) {
      const message = [validation, podValidation].map((v) => (v.ok ? '' : v.message)).filter(Boolean).join('; ');
      set({ type: 'Ready', status: 'False', reason: 'InvalidSpec', message });
      set({ type: 'Degraded', status: 'True', reason: 'InvalidSpec', message });
      set({ type: 'Progressing', status: 'False', reason: 'InvalidSpec', message: 'fix the spec to continue' });
      await writeStatus(pool, { ...status, conditions });
      return {};
    }
    const spec = validation.spec;

    // No silent demo mode: without a shared store the workers would write where the api never
    // reads, and every job would stay pending while everything looks healthy. Refuse instead.
    // Nothing is published or applied; the pool is retried when the controller (re)starts.
    const missing = missingWorkerConfig(deps.deployment);
    if (missing) {
      set({ type: 'Degraded', status: 'True', reason: 'NoWorkerStore', message: missing });
      set({ type: 'Ready', status: 'False', reason: 'NoWorkerStore', message: missing });
      set({ type: 'Progressing', status: 'False', reason: 'NoWorkerStore', message: 'no worker Deployment is made until the controller has a store for workers' });
      await writeStatus(pool, { ...status, conditions });
      return {};
    }

    // Vendor names: earlier pools (creation time) keep contested names; the registry refuses
    // names another pool already owns (which also covers pools the informer has not seen yet).
    const claims = deps.knownPools().map(claimOf).filter((c): c is PoolClaim => c !== undefined);
    const self: PoolClaim = { key, createdAt: pool.metadata.creationTimestamp ?? '', vendors: spec.vendors.map((v) => v.name) };
    const taken = crossPoolConflicts(self, claims);
    const mine = spec.vendors.filter((v) => !taken.has(v.name));
    let refused: string[];
    let lag: PoolLag;
    try {
      refused = await deps.registry.publish(key, mine);
      lag = await poolLag(deps.redis, mine.filter((v) => !refused.includes(v.name)).map((v) => v.name));
    } catch (err) {
      // Redis down: say so in the status, leave the Deployment as it is, retry with backoff.
      const message = `Redis unavailable: ${(err as Error).message}`;
      set({ type: 'Degraded', status: 'True', reason: 'RegistryUnavailable', message });
      set({ type: 'Ready', status: 'False', reason: 'RegistryUnavailable', message });
      await writeStatus(pool, { ...status, conditions });
      throw err;
    }
    const conflicts = [...[...taken].map(([v, owner]) => `${v} (owned by ${owner})`), ...refused.map((v) => `${v} (owned by another pool)`)];
    if (conflicts.length > 0) {
      set({ type: 'Conflict', status: 'True', reason: 'VendorNameTaken', message: `vendor names used by another pool: ${conflicts.join(', ')}` });
    } else {
      set({ type: 'Conflict', status: 'False', reason: 'NoConflict', message: 'every vendor name belongs to this pool' });
    }

    // Replicas from lag, with scale-down stabilisation. A fresh controller (new leader) starts
    // its memory from the replicas already running, so a failover never scales down at once.
    // With external scaling the Deployment is applied without replicas: whatever an HPA or
    // KEDA set stays.
    const external = spec.workers.scaling === 'external';
    let handOver: number | undefined;
    if (!history.has(key) || external) {
      const existing = await get<V1Deployment>(paths.deployment(namespace, deploymentName(name)));
      const running = existing?.spec?.replicas;
      if (!history.has(key)) history.set(key, running === undefined ? [] : [{ at: now(), replicas: running }]);
      if (running !== undefined && !lastReplicas.has(key)) lastReplicas.set(key, running);
      if (external && existing && running !== undefined && ownsReplicas(existing)) handOver = running;
    }
    const decision = desiredReplicas(lag.total, spec.workers, history.get(key) ?? [], now());
    history.set(key, decision.history);

    let applied: V1Deployment | undefined;
    const pod = workerPodSettings(podValidation.pod, spec.workers.resources, deps.deployment.podDefaults);
    try {
      if (handOver !== undefined) await handOverReplicas(namespace, name, handOver);
      applied = await apply(pool, spec, external ? undefined : decision.replicas, pod);
      await applyPdb(pool, pod);
    } catch (err) {
      const message = `applying the worker Deployment failed: ${(err as Error).message}`;
      set({ type: 'Degraded', status: 'True', reason: 'ApplyFailed', message });
      set({ type: 'Ready', status: 'False', reason: 'ApplyFailed', message });
      await writeStatus(pool, { ...status, conditions });
      throw err;
    }

    // What the Deployment runs now: ours (builtin) or the autoscaler's (external).
    const replicas = applied.spec?.replicas ?? decision.replicas;
    const before = lastReplicas.get(key);
    lastReplicas.set(key, replicas);
    if (!external && before !== undefined && before !== replicas) {
      await event(pool, scaledEvent(before, replicas, lag.total, spec.workers.targetLagPerReplica));
    }
    const ready = applied.status?.readyReplicas ?? 0;
    const updated = applied.status?.updatedReplicas ?? 0;
    const rolledOut = (applied.status?.observedGeneration ?? 0) >= (applied.metadata?.generation ?? 0) && updated >= replicas;
    set(
      rolledOut
        ? { type: 'Progressing', status: 'False', reason: 'Stable', message: `${replicas} worker(s) rolled out` }
        : { type: 'Progressing', status: 'True', reason: 'RollingOut', message: `${updated}/${replicas} workers updated` },
    );
    set({ type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'registry published and Deployment applied' });
    // Pods are read only while some workers are not ready: that is when "why" matters.
    const allReady = ready >= replicas && rolledOut;
    const scheduling = allReady ? { pending: 0, unschedulable: 0 } : workerPodScheduling(await listWorkerPods(namespace, name));
    if (conflicts.length > 0) set({ type: 'Ready', status: 'False', reason: 'VendorConflict', message: 'some vendors belong to another pool (see Conflict)' });
    else if (allReady) set({ type: 'Ready', status: 'True', reason: 'WorkersReady', message: `${ready}/${replicas} workers ready` });
    else if (scheduling.unschedulable > 0) {
      set({ type: 'Ready', status: 'False', reason: 'WorkersUnschedulable', message: `${ready}/${replicas} workers ready; ${scheduling.unschedulable} pod(s) cannot be scheduled: ${scheduling.message ?? ''}` });
    } else set({ type: 'Ready', status: 'False', reason: 'WorkersNotReady', message: `${ready}/${replicas} workers ready` });

    deps.metrics.poolLag.set({ pool: key }, lag.total);
    deps.metrics.poolReplicas.set({ pool: key }, replicas);
    await writeStatus(pool, {
      ...status,
      replicas,
      readyReplicas: ready,
      lag: lag.total,
      pendingPods: scheduling.pending,
      unschedulablePods: scheduling.unschedulable,
      vendorNames: spec.vendors.map((v) => v.name).join(','),
      vendors: lag.vendors.map((v) => ({ name: v.name, lag: v.lag, pending: v.pending, circuit: v.circuit })),
      conditions,
    });
    return { requeueAfterMs: deps.lagPollMs };
  }

  /** True while our apply owns spec.replicas (builtin scaling before, or never handed over). */
  function ownsReplicas(d: V1Deployment): boolean {
    return (d.metadata?.managedFields ?? []).some(
      (m) => m.manager === FIELD_MANAGER && m.operation === 'Apply' && JSON.stringify(m.fieldsV1 ?? {}).includes('"f:replicas"'),
    );
  }

  /**
   * builtin → external: were our apply simply to drop replicas, server-side apply would remove
   * a field nobody else owns, and the Deployment would fall back to 1 replica until the
   * autoscaler reacts. So another manager of ours first applies the current value (shared
   * ownership); the autoscaler's first update then takes the field from it.
   */
  async function handOverReplicas(namespace: string, name: string, replicas: number): Promise<void> {
    await kube.request({
      method: 'PATCH',
      path: paths.deployment(namespace, deploymentName(name)),
      query: { fieldManager: HANDOVER_MANAGER },
      body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: deploymentName(name), namespace }, spec: { replicas } },
      contentType: CONTENT.apply,
    });
  }

  async function apply(pool: VendorPoolObject, spec: VendorPoolSpec, replicas: number | undefined, pod: WorkerPodSettings): Promise<V1Deployment> {
    const { namespace, name, uid } = pool.metadata;
    const desired = desiredDeployment({ name, namespace, uid }, spec, replicas, deps.deployment, pod);
    return kube.request<V1Deployment>({
      method: 'PATCH',
      path: paths.deployment(namespace, deploymentName(name)),
      query: { fieldManager: FIELD_MANAGER, force: true },
      body: desired,
      contentType: CONTENT.apply,
    });
  }

  /** Apply the pool's PodDisruptionBudget, or delete the one it owns when it wants none. */
  async function applyPdb(pool: VendorPoolObject, pod: WorkerPodSettings): Promise<void> {
    const { namespace, name, uid } = pool.metadata;
    const path = `/apis/policy/v1/namespaces/${namespace}/poddisruptionbudgets/${pdbName(name)}`;
    if (pod.podDisruptionBudget) {
      await kube.request({ method: 'PATCH', path, query: { fieldManager: FIELD_MANAGER, force: true }, body: desiredPdb({ name, namespace, uid }, pod.podDisruptionBudget), contentType: CONTENT.apply });
      return;
    }
    // Only a budget this pool owns is removed; one a user made under the same name stays.
    const existing = await get<V1PodDisruptionBudget>(path);
    if (existing?.metadata?.ownerReferences?.some((r) => r.uid === uid && r.controller)) {
      await kube.request({ method: 'DELETE', path, body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: existing.metadata.uid } } }).catch((err: unknown) => {
        if (!isKubeError(err, 404)) throw err;
      });
    }
  }

  async function listWorkerPods(namespace: string, name: string) {
    const selector = Object.entries(selectorLabels(name)).map(([k, v]) => `${k}=${v}`).join(',');
    const list = await kube.request<V1PodList>({ method: 'GET', path: `/api/v1/namespaces/${namespace}/pods`, query: { labelSelector: selector } });
    return list.items;
  }

  /** The one status write of a pass, skipped when nothing changed (no needless watch events). */
  async function writeStatus(pool: VendorPoolObject, next: VendorPoolStatus & { conditions: Condition[] }): Promise<void> {
    const prev = pool.status ?? {};
    const { conditions: pc = [], ...prevRest } = prev;
    const { conditions: nc, ...nextRest } = next;
    if (JSON.stringify(sortKeys(prevRest)) === JSON.stringify(sortKeys(nextRest)) && sameConditions(pc, nc)) return;
    await kube.request({
      method: 'PATCH',
      path: paths.poolStatus(pool.metadata.namespace, pool.metadata.name),
      body: { status: next },
      contentType: CONTENT.merge,
    });
    for (const e of conditionEvents(pc, nc)) await event(pool, e);
  }

  return {
    reconcile: async (key) => {
      const end = deps.metrics.reconcileDuration.startTimer();
      try {
        const r = await reconcile(key);
        deps.metrics.reconciles.inc({ result: 'ok' });
        return r;
      } catch (err) {
        deps.metrics.reconciles.inc({ result: 'error' });
        deps.metrics.reconcileErrors.inc();
        throw err;
      } finally {
        end();
      }
    },
    forget: (key) => void history.delete(key),
  };
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
