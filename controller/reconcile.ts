// One reconcile story for one VendorPool (level-triggered, idempotent; safe to run any number
// of times): the pool from the informer's cache → finalizer → validate → plan (vendor-name
// claims, registry, lag, replicas: plan.ts) → server-side apply the worker Deployment and its
// PodDisruptionBudget (with spec.workers.scaling external, replicas are left to an HPA/KEDA) →
// why workers are not ready (unschedulable pods) → status built from what this pass observed
// (pool-status.ts), written once. Events (events.ts) for scaling and for a pool turning
// Degraded or Conflict.
import os from 'node:os';
import type { V1Deployment, V1PodDisruptionBudget, V1PodList } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import type { Logger } from '../core/logger.js';
import type { VendorRegistry } from '../core/registry.js';
import type { VendorPoolSpec } from '../core/vendorpool.js';
import { FIELD_MANAGER, FINALIZER, paths, poolKey, splitKey, type VendorPoolObject } from './api-types.js';
import { sameConditions } from './conditions.js';
import { deploymentName, desiredDeployment, missingWorkerConfig, selectorLabels, type DeploymentOptions } from './deployment.js';
import { conditionEvents, poolRef, recordEvent, scaledEvent, type PoolEvent } from './events.js';
import { CONTENT, isKubeError, type KubeClient } from './kube.js';
import type { ControllerMetrics } from './metrics.js';
import { planPool, type PoolPlan } from './plan.js';
import { workerPodScheduling } from './pods.js';
import { allWorkersReady, poolStatus, rolloutOf, type PoolObservation, type PoolStatus } from './pool-status.js';
import type { Recommendation } from './scaling.js';
import { validatePoolSpec, type PoolClaim } from './validate.js';
import { desiredPdb, pdbName, validateWorkerPod, workerPodSettings, type WorkerPodSettings } from './worker-pod.js';

/** The VendorPools the controller's informer holds. */
export interface PoolCache {
  get(key: string): VendorPoolObject | undefined;
  list(): VendorPoolObject[];
}

export interface ReconcilerDeps {
  kube: KubeClient;
  registry: VendorRegistry;
  redis: Redis;
  pools: PoolCache;
  deployment: DeploymentOptions;
  metrics: ControllerMetrics;
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
  /** One pass; `log` carries the pass's reconcile id. */
  reconcile(key: string, log: Logger): Promise<ReconcileResult>;
  /** Forget per-pool memory (scale history, last replicas, last write) — for a pool that is gone. */
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
  /**
   * Our last write to each pool and the version it was made on. Until the informer delivers
   * that write, its cache still shows the version before it; a pass reading that copy would
   * compare against an old status and announce the same Degraded story twice.
   */
  const written = new Map<string, { basedOn: string | undefined; pool: VendorPoolObject }>();

  function forget(key: string): void {
    history.delete(key);
    lastReplicas.delete(key);
    written.delete(key);
  }

  /** The cached pool, or the object our last write returned when the cache does not show it yet. */
  function currentPool(key: string): VendorPoolObject | undefined {
    const cached = deps.pools.get(key);
    const mine = written.get(key);
    if (cached && mine && cached.metadata.resourceVersion === mine.basedOn) return mine.pool;
    written.delete(key);
    return cached;
  }

  const remember = (key: string, before: VendorPoolObject, after: VendorPoolObject): VendorPoolObject => {
    written.set(key, { basedOn: before.metadata.resourceVersion, pool: after });
    return after;
  };

  function event(pool: VendorPoolObject, e: PoolEvent, log: Logger): Promise<void> {
    return recordEvent(kube, poolRef(pool), e, new Date(now()), deps.identity ?? os.hostname()).catch((err: Error) =>
      log.warn({ reason: e.reason, err: err.message }, 'could not record an Event'),
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

  async function finalize(pool: VendorPoolObject, key: string, log: Logger): Promise<ReconcileResult> {
    if (pool.metadata.finalizers?.includes(FINALIZER)) {
      // Only this pool's entries go: the Lua script never touches vendors another pool owns.
      await deps.registry.removePool(key);
      await setFinalizers(pool, pool.metadata.finalizers.filter((f) => f !== FINALIZER));
      log.info('pool deleted: vendors removed from the registry, finalizer removed');
    }
    forget(key);
    return {};
  }

  async function reconcile(key: string, log: Logger): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    let pool = currentPool(key);
    if (!pool) {
      forget(key);
      return {};
    }
    if (pool.metadata.deletionTimestamp) return finalize(pool, key, log);
    if (!pool.metadata.finalizers?.includes(FINALIZER)) {
      pool = remember(key, pool, await setFinalizers(pool, [...(pool.metadata.finalizers ?? []), FINALIZER]));
    }
    const observed = pool;
    const at = new Date(now());
    const writeObserved = (o: PoolObservation) =>
      writeStatus(key, observed, poolStatus(o, observed.status?.conditions, observed.metadata.generation, at), log);

    const validation = validatePoolSpec(pool.spec);
    const podValidation = validateWorkerPod(pool.spec);
    if (!validation.ok || !podValidation.ok) {
      const message = [validation, podValidation].map((v) => (v.ok ? '' : v.message)).filter(Boolean).join('; ');
      await writeObserved({ outcome: 'InvalidSpec', message });
      return {};
    }
    const spec = validation.spec;
    const vendorNames = spec.vendors.map((v) => v.name);

    // No silent demo mode: without a shared store the workers would write where the api never
    // reads, and every job would stay pending while everything looks healthy. Refuse instead.
    // Nothing is published or applied; the pool is retried when the controller (re)starts.
    const missing = missingWorkerConfig(deps.deployment);
    if (missing) {
      await writeObserved({ outcome: 'NoWorkerStore', message: missing, vendorNames });
      return {};
    }

    // A fresh controller (new leader) starts its scale memory from the replicas already
    // running, so a failover never scales down at once. With external scaling the Deployment
    // is applied without replicas: whatever an HPA or KEDA set stays.
    const external = spec.workers.scaling === 'external';
    let handOver: number | undefined;
    if (!history.has(key) || external) {
      const existing = await get<V1Deployment>(paths.deployment(namespace, deploymentName(name)));
      const running = existing?.spec?.replicas;
      if (!history.has(key)) history.set(key, running === undefined ? [] : [{ at: now(), replicas: running }]);
      if (running !== undefined && !lastReplicas.has(key)) lastReplicas.set(key, running);
      if (external && existing && running !== undefined && ownsReplicas(existing)) handOver = running;
    }

    // Vendor names: earlier pools (creation time) keep contested names.
    const claims = deps.pools.list().map(claimOf).filter((c): c is PoolClaim => c !== undefined);
    let plan: PoolPlan;
    try {
      plan = await planPool(deps, {
        claim: { key, createdAt: pool.metadata.creationTimestamp ?? '', vendors: vendorNames },
        claims,
        vendors: spec.vendors,
        workers: spec.workers,
        history: history.get(key) ?? [],
        now: now(),
      });
    } catch (err) {
      // Redis down: say so in the status, leave the Deployment as it is, retry with backoff.
      await writeObserved({ outcome: 'RegistryUnavailable', message: `Redis unavailable: ${(err as Error).message}`, vendorNames });
      throw err;
    }
    history.set(key, plan.scale.history);

    let applied: V1Deployment;
    const pod = workerPodSettings(podValidation.pod, spec.workers.resources, deps.deployment.podDefaults);
    try {
      if (handOver !== undefined) await handOverReplicas(namespace, name, handOver);
      applied = await apply(pool, spec, external ? undefined : plan.scale.replicas, pod);
      await applyPdb(pool, pod);
    } catch (err) {
      await writeObserved({ outcome: 'ApplyFailed', message: `applying the worker Deployment failed: ${(err as Error).message}`, vendorNames, plan });
      throw err;
    }

    const rollout = rolloutOf(applied, plan.scale.replicas);
    const before = lastReplicas.get(key);
    lastReplicas.set(key, rollout.replicas);
    if (!external && before !== undefined && before !== rollout.replicas) {
      await event(pool, scaledEvent(before, rollout.replicas, plan.lag.total, spec.workers.targetLagPerReplica), log);
    }
    // Pods are read only while some workers are not ready: that is when "why" matters.
    const scheduling = allWorkersReady(rollout) ? { pending: 0, unschedulable: 0 } : workerPodScheduling(await listWorkerPods(namespace, name));

    deps.metrics.poolLag.set({ pool: key }, plan.lag.total);
    deps.metrics.poolReplicas.set({ pool: key }, rollout.replicas);
    await writeObserved({ outcome: 'Applied', vendorNames, plan, rollout, scheduling });
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

  /**
   * The one status write of a pass, skipped when nothing changed (no needless watch events).
   * The whole status is replaced, so a field this pass did not observe goes away.
   */
  async function writeStatus(key: string, pool: VendorPoolObject, next: PoolStatus, log: Logger): Promise<void> {
    const { conditions: pc = [], ...prevRest } = pool.status ?? {};
    const { conditions: nc, ...nextRest } = next;
    if (JSON.stringify(sortKeys(prevRest)) === JSON.stringify(sortKeys(nextRest)) && sameConditions(pc, nc)) return;
    const updated = await kube.request<VendorPoolObject>({
      method: 'PATCH',
      path: paths.poolStatus(pool.metadata.namespace, pool.metadata.name),
      body: [{ op: 'add', path: '/status', value: next }],
      contentType: CONTENT.jsonPatch,
    });
    remember(key, pool, updated);
    for (const e of conditionEvents(pc, nc)) await event(pool, e, log);
  }

  return {
    reconcile: async (key, log) => {
      const end = deps.metrics.reconcileDuration.startTimer();
      try {
        const r = await reconcile(key, log);
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
    forget,
  };
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
