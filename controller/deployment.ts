// The worker Deployment a VendorPool wants, as a pure function: computed here, applied by the
// reconciler with server-side apply. Nothing vendor-specific goes into the pod template (workers
// read quotas and URLs from the registry), so a quota edit never causes a rollout.
import type { V1Deployment, V1EnvVar, V1PodSpec } from '@kubernetes/client-node';
import type { VendorPoolSpec } from '../core/vendorpool.js';
import { workerPodSettings, type WorkerPodDefaults, type WorkerPodSettings } from './worker-pod.js';

/** A value given inline, or read by the kubelet from a Secret. */
export type EnvSource = { value: string } | { secretKeyRef: { name: string; key: string } };

export interface DeploymentOptions {
  /** Image when spec.workers.image is unset. */
  defaultImage: string;
  /** Arguments to the image's entrypoint (one image, program chosen by argument). Default ["worker"]. */
  args?: string[];
  /** Overrides the image's entrypoint. Default: unset (the image's own). */
  command?: string[];
  redisUrl: EnvSource;
  /**
   * The store the workers share with the api. Unset → the controller refuses to make workers
   * (a per-pod SQLite file would leave every job pending): see missingWorkerConfig.
   */
  mongodbUrl?: EnvSource;
  /** Public base URL async vendors call back (VF_WEBHOOK_BASE_URL). */
  webhookBaseUrl?: string;
  /**
   * VF_CALLBACK_CLIENTS of the workers (completion callbacks: per client key, its signing
   * secret and allowlist), from a Secret: it holds signing secrets, so never a plain value.
   */
  callbackClients?: EnvSource & { secretKeyRef: { name: string; key: string } };
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Defaults of the pod settings a pool may override (worker-pod.ts). Default: the built-in ones. */
  podDefaults?: WorkerPodDefaults;
}

/** What the controller lacks to make working workers; undefined when nothing is missing. */
export function missingWorkerConfig(opts: DeploymentOptions): string | undefined {
  if (!opts.mongodbUrl) {
    return 'the controller has no store for its workers: set VF_WORKER_MONGODB_URL or VF_WORKER_MONGODB_SECRET (chart: mongodb.url, mongodb.existingSecret or dev.mongodb.enabled); a per-pod SQLite file would leave every job pending';
  }
  return undefined;
}

export interface PoolRef {
  name: string;
  namespace: string;
  uid: string;
}

export const POOL_LABEL = 'vendorfetch.io/pool';
export const WORKER_PORT = 8082;
export const deploymentName = (poolName: string): string => `${poolName}-workers`;

export const selectorLabels = (poolName: string): Record<string, string> => ({
  'app.kubernetes.io/name': 'vendorfetch',
  'app.kubernetes.io/component': 'worker',
  [POOL_LABEL]: poolName,
});

const envVar = (name: string, src: EnvSource): V1EnvVar =>
  'value' in src ? { name, value: src.value } : { name, valueFrom: { secretKeyRef: { ...src.secretKeyRef } } };

/**
 * `replicas` undefined leaves the field out, so server-side apply does not own it and an HPA or
 * KEDA may (spec.workers.scaling: external).
 * `pod`: the pool's effective pod settings (worker-pod.ts); default: the pool's resources over
 * opts.podDefaults, nothing else set.
 */
export function desiredDeployment(
  pool: PoolRef,
  spec: VendorPoolSpec,
  replicas: number | undefined,
  opts: DeploymentOptions,
  pod: WorkerPodSettings = workerPodSettings({}, spec.workers.resources, opts.podDefaults),
): V1Deployment {
  const labels = { ...selectorLabels(pool.name), 'app.kubernetes.io/managed-by': 'vendorfetch-controller' };
  const env: V1EnvVar[] = [
    { name: 'VF_POOL', value: `${pool.namespace}/${pool.name}` },
    envVar('REDIS_URL', opts.redisUrl),
    // The reconciler never gets here without a store (missingWorkerConfig); a caller that calls
    // this directly without one gets a SQLite file on the writable /tmp volume (tests only).
    ...(opts.mongodbUrl ? [envVar('MONGODB_URL', opts.mongodbUrl)] : [{ name: 'VF_SQLITE_PATH', value: '/tmp/vendorfetch.db' }]),
    { name: 'LOG_LEVEL', value: pod.logLevel },
    { name: 'VF_CONCURRENCY', value: String(spec.workers.concurrency) },
    { name: 'WORKER_METRICS_PORT', value: String(WORKER_PORT) },
    ...(opts.webhookBaseUrl ? [{ name: 'VF_WEBHOOK_BASE_URL', value: opts.webhookBaseUrl }] : []),
    ...(opts.callbackClients ? [envVar('VF_CALLBACK_CLIENTS', opts.callbackClients)] : []),
    ...(opts.podDefaults?.extraEnv ?? []),
  ];
  const probe = (periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path: '/healthz', port: 'metrics' },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 2,
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: deploymentName(pool.name),
      namespace: pool.namespace,
      labels,
      ownerReferences: [
        {
          apiVersion: 'vendorfetch.io/v1alpha1',
          kind: 'VendorPool',
          name: pool.name,
          uid: pool.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      ...(replicas === undefined ? {} : { replicas }),
      selector: { matchLabels: selectorLabels(pool.name) },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          // A worker hands its in-flight jobs back on SIGTERM; give it time to do so.
          terminationGracePeriodSeconds: 30,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'worker',
              image: spec.workers.image ?? opts.defaultImage,
              imagePullPolicy: opts.imagePullPolicy ?? 'IfNotPresent',
              ...(opts.command ? { command: opts.command } : {}),
              args: opts.args ?? ['worker'],
              env,
              ports: [{ name: 'metrics', containerPort: WORKER_PORT, protocol: 'TCP' }],
              resources: pod.resources,
              readinessProbe: probe(5, 3),
              livenessProbe: { ...probe(10, 6), initialDelaySeconds: 10 },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: {} }],
          ...schedulingOf(pod, pool.name),
        },
      },
    },
  };
}

/** The pod-level settings a pool may give its workers; unset ones are left out (server defaults). */
function schedulingOf(pod: WorkerPodSettings, poolName: string): Partial<V1PodSpec> {
  // A spread constraint without a labelSelector would count no pods at all; the one a pool
  // means is "my workers", so that is filled in.
  const spread = pod.topologySpreadConstraints?.map((c) => (c.labelSelector ? c : { ...c, labelSelector: { matchLabels: selectorLabels(poolName) } }));
  return {
    ...(pod.imagePullSecrets?.length ? { imagePullSecrets: pod.imagePullSecrets } : {}),
    ...(pod.nodeSelector && Object.keys(pod.nodeSelector).length ? { nodeSelector: pod.nodeSelector } : {}),
    ...(pod.tolerations?.length ? { tolerations: pod.tolerations as V1PodSpec['tolerations'] } : {}),
    ...(pod.affinity && Object.keys(pod.affinity).length ? { affinity: pod.affinity as V1PodSpec['affinity'] } : {}),
    ...(spread?.length ? { topologySpreadConstraints: spread as unknown as V1PodSpec['topologySpreadConstraints'] } : {}),
    ...(pod.priorityClassName ? { priorityClassName: pod.priorityClassName } : {}),
  };
}
