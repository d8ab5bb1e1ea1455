// The Kubernetes controller: informers on VendorPools and on the Deployments it owns feed a
// de-duplicating work queue; each key is reconciled (reconcile.ts) from the informer's cache; a
// successful pass requeues itself after lagPollMs so replicas follow the stream lag; a failed
// one backs off per key. Only status-free changes of a pool (generation, deletion, finalizers)
// enqueue it, so the controller's own status writes do not wake it up again. Every pass logs
// with a reconcile id of its own (controller-runtime's reconcileID), so one pass's lines can be
// told from the next one's.
import { randomUUID } from 'node:crypto';
import type { KubeConfig, V1Deployment } from '@kubernetes/client-node';
import type { Logger } from '../core/logger.js';
import { paths, poolKey, splitKey, type VendorPoolObject } from './api-types.js';
import { createResilientInformer, type ResilientInformer } from './informer.js';
import type { KubeClient } from './kube.js';
import type { ControllerMetrics } from './metrics.js';
import { createReconciler, type ReconcilerDeps } from './reconcile.js';
import { createWorkQueue, type WorkQueue } from './workqueue.js';

export interface ControllerOptions extends Omit<ReconcilerDeps, 'pools'> {
  kc: KubeConfig;
  kube: KubeClient;
  metrics: ControllerMetrics;
  logger: Logger;
  /** Watch one namespace only. Default: all namespaces. */
  namespace?: string;
  /** Pools reconciled at once. Default 2. */
  concurrency?: number;
  /** Retry backoff after a failed pass. Defaults 200 ms doubling to 60 s. */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export interface Controller {
  /** Start informers (resolves once both caches are synced) and the workers. */
  start(): Promise<void>;
  /** Stop taking work at once; in-flight passes finish. Idempotent. */
  stop(): Promise<void>;
  synced(): boolean;
  queue: WorkQueue;
}

export const MANAGED_BY_SELECTOR = 'app.kubernetes.io/managed-by=vendorfetch-controller';

const signature = (p: VendorPoolObject) =>
  JSON.stringify([p.metadata.generation, p.metadata.deletionTimestamp ?? null, p.metadata.finalizers ?? [], p.metadata.uid]);

export function createController(o: ControllerOptions): Controller {
  const log = o.logger.child({ component: 'controller' });
  const queue = createWorkQueue({ baseDelayMs: o.retryBaseMs ?? 200, maxDelayMs: o.retryMaxMs ?? 60_000 });
  const seen = new Map<string, string>();
  let pools: ResilientInformer<VendorPoolObject> | undefined;
  let deployments: ResilientInformer<V1Deployment> | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const reconciler = createReconciler({
    ...o,
    pools: {
      get: (key) => {
        const { namespace, name } = splitKey(key);
        return pools?.get(name, namespace);
      },
      list: () => [...(pools?.list() ?? [])],
    },
  });

  const list = <T>(path: string, labelSelector?: string) => () =>
    o.kube.request<{ items: T[]; metadata?: { resourceVersion?: string } }>({ method: 'GET', path, query: { labelSelector } });

  function onPool(kind: 'add' | 'update' | 'delete', p: VendorPoolObject): void {
    const key = poolKey(p.metadata);
    if (kind === 'delete') {
      seen.delete(key);
      reconciler.forget(key);
      return;
    }
    const sig = signature(p);
    if (kind === 'update' && seen.get(key) === sig) return; // a status write (ours) or metadata noise
    seen.set(key, sig);
    queue.add(key);
  }

  function onDeployment(_kind: string, d: V1Deployment): void {
    const owner = d.metadata?.ownerReferences?.find((r) => r.kind === 'VendorPool' && r.controller);
    if (owner && d.metadata?.namespace) queue.add(`${d.metadata.namespace}/${owner.name}`);
  }

  async function handle(key: string): Promise<void> {
    const passLog = log.child({ pool: key, reconcileID: randomUUID() });
    const started = Date.now();
    try {
      const r = await reconciler.reconcile(key, passLog);
      queue.forget(key);
      if (r.requeueAfterMs !== undefined) queue.addAfter(key, r.requeueAfterMs);
      passLog.debug({ durationMs: Date.now() - started, requeueAfterMs: r.requeueAfterMs }, 'reconciled');
    } catch (err) {
      passLog.warn({ err: (err as Error).message, failures: queue.failures(key) + 1 }, 'reconcile failed; requeued with backoff');
      queue.addRateLimited(key);
    }
  }

  return {
    queue,
    synced: () => Boolean(pools?.synced() && deployments?.synced()),
    async start() {
      pools = createResilientInformer<VendorPoolObject>({
        name: 'vendorpools',
        kc: o.kc,
        path: paths.pools(o.namespace),
        list: list<VendorPoolObject>(paths.pools(o.namespace)),
        logger: log,
        onEvent: onPool,
        onRestart: (name) => o.metrics.informerRestarts.inc({ informer: name }),
      });
      deployments = createResilientInformer<V1Deployment>({
        name: 'deployments',
        kc: o.kc,
        path: paths.deployments(o.namespace),
        list: list<V1Deployment>(paths.deployments(o.namespace), MANAGED_BY_SELECTOR),
        labelSelector: MANAGED_BY_SELECTOR,
        logger: log,
        onEvent: onDeployment,
        onRestart: (name) => o.metrics.informerRestarts.inc({ informer: name }),
      });
      await Promise.all([pools.start(), deployments.start()]);
      if (stopped) return;
      running = queue.run(handle, o.concurrency ?? 2);
      log.info({ pools: pools.list().length }, 'controller started; caches synced');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      queue.shutdown();
      await Promise.all([pools?.stop(), deployments?.stop()]);
      await running;
    },
  };
}
