// What a worker pod may be given beyond image and concurrency: scheduling (nodeSelector,
// tolerations, affinity, topology spread, priority), pull secrets, resources, log level and the
// pool's PodDisruptionBudget. These are Kubernetes-only settings, so their schema lives here and
// not in core/vendorpool.ts (local mode has no nodes to select); the CRD's spec.workers carries
// both, and controller/crd-drift.test.ts checks the CRD against the two zod schemas together.
//
// Precedence, per setting: the pool's value when the pool names it (even `[]` or `{}`, which
// clears the default), else the controller's default (VF_WORKER_POD_DEFAULTS, the chart's
// `workers:` values), else the built-in default below.
import type { V1PodDisruptionBudget, V1ResourceRequirements } from '@kubernetes/client-node';
import { z } from 'zod';
import type { PoolRef } from './deployment.js';
import { deploymentName, selectorLabels } from './deployment.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** An integer ≥ 0 or a percentage ("25%"), as PodDisruptionBudget takes them. */
const intOrPercent = z.union([z.number().int().min(0).max(1_000_000), z.string().regex(/^[0-9]{1,3}%$/, 'must be an integer or a percentage like "25%"')]);

export const PDB_EXCLUSIVE_MESSAGE = 'set maxUnavailable or minAvailable, not both';

export const podDisruptionBudgetSchema = z
  .object({
    /** false: no PodDisruptionBudget for this pool (an existing one is deleted). Default true. */
    enabled: z.boolean().optional(),
    /** Default 1 (when minAvailable is unset too). */
    maxUnavailable: intOrPercent.optional(),
    minAvailable: intOrPercent.optional(),
  })
  .refine((p) => p.maxUnavailable === undefined || p.minAvailable === undefined, { message: PDB_EXCLUSIVE_MESSAGE, path: ['maxUnavailable'] });

/** The Kubernetes-only part of spec.workers (every field optional: unset → the default). */
export const workerPodSchema = z.object({
  imagePullSecrets: z.array(z.object({ name: z.string().min(1).max(253) })).max(20).optional(),
  nodeSelector: z.record(z.string(), z.string()).optional(),
  // Structure checked by the API server when the Deployment is applied (an error shows as
  // Degraded/ApplyFailed on the pool), so the CRD keeps these open rather than copy core/v1.
  tolerations: z.array(z.record(z.string(), z.unknown())).max(50).optional(),
  affinity: z.record(z.string(), z.unknown()).optional(),
  topologySpreadConstraints: z.array(z.record(z.string(), z.unknown())).max(20).optional(),
  priorityClassName: z.string().min(1).max(253).optional(),
  /** LOG_LEVEL of the workers. */
  logLevel: z.enum(LOG_LEVELS).optional(),
  podDisruptionBudget: podDisruptionBudgetSchema.optional(),
});
export type WorkerPodSpec = z.infer<typeof workerPodSchema>;

/** Controller-wide defaults: the same fields plus default resources (VF_WORKER_POD_DEFAULTS). */
export const workerPodDefaultsSchema = workerPodSchema.extend({
  resources: z.record(z.string(), z.unknown()).optional(),
  /**
   * Plain environment variables for every worker (tuning such as VF_PENDING_TIMEOUT_SECONDS),
   * after the ones the controller sets. Controller-wide only: a pool's author does not get to
   * change how workers run. Secrets do not belong here (they would sit in the Deployment).
   */
  extraEnv: z.array(z.object({ name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), value: z.string() }).strict()).max(50).optional(),
});
export type WorkerPodDefaults = z.infer<typeof workerPodDefaultsSchema>;

/** Built in, so that a controller configured with nothing still makes Burstable pods with a PDB. */
export const BUILTIN_WORKER_DEFAULTS = {
  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
  logLevel: 'info',
  podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
} as const satisfies WorkerPodDefaults;

export interface WorkerPodSettings {
  imagePullSecrets?: Array<{ name: string }>;
  nodeSelector?: Record<string, string>;
  tolerations?: Array<Record<string, unknown>>;
  affinity?: Record<string, unknown>;
  topologySpreadConstraints?: Array<Record<string, unknown>>;
  priorityClassName?: string;
  logLevel: (typeof LOG_LEVELS)[number];
  resources: V1ResourceRequirements;
  /** undefined: no PodDisruptionBudget. */
  podDisruptionBudget?: { maxUnavailable: number | string } | { minAvailable: number | string };
}

export type PodSpecValidation = { ok: true; pod: WorkerPodSpec } | { ok: false; message: string };

/** Parse the Kubernetes-only fields of a pool's spec.workers (raw, as the API server sent it). */
export function validateWorkerPod(spec: unknown): PodSpecValidation {
  const workers = (spec as { workers?: unknown } | null | undefined)?.workers ?? {};
  const parsed = workerPodSchema.safeParse(workers);
  if (parsed.success) return { ok: true, pod: parsed.data };
  const message = parsed.error.issues
    .map((i) => `spec.workers${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`)
    .join('; ');
  return { ok: false, message };
}

type Quantities = Record<string, string | number>;

/**
 * Resources per resource name: a name the pool mentions at all (in requests or limits) is the
 * pool's alone; every other name takes the default request and limit. So a pool that only
 * limits memory still gets the default cpu request (never BestEffort), and a default memory
 * request can never exceed a memory limit the pool set lower.
 */
export function workerResources(pool: Record<string, unknown> | undefined, defaults: Record<string, unknown> | undefined): V1ResourceRequirements {
  if (pool === undefined) return structuredClone((defaults ?? {}) as V1ResourceRequirements);
  const pr = (pool.requests ?? {}) as Quantities;
  const pl = (pool.limits ?? {}) as Quantities;
  const dr = ((defaults?.requests ?? {}) as Quantities);
  const dl = ((defaults?.limits ?? {}) as Quantities);
  const named = new Set([...Object.keys(pr), ...Object.keys(pl)]);
  const requests: Quantities = { ...pr };
  const limits: Quantities = { ...pl };
  for (const [k, v] of Object.entries(dr)) if (!named.has(k)) requests[k] = v;
  for (const [k, v] of Object.entries(dl)) if (!named.has(k)) limits[k] = v;
  const { requests: _r, limits: _l, ...rest } = pool;
  return {
    ...(rest as V1ResourceRequirements),
    ...(Object.keys(requests).length ? { requests: requests as Record<string, string> } : {}),
    ...(Object.keys(limits).length ? { limits: limits as Record<string, string> } : {}),
  };
}

/** The effective pod settings of one pool: pool value, else controller default, else built-in. */
export function workerPodSettings(pool: WorkerPodSpec, poolResources: Record<string, unknown> | undefined, defaults: WorkerPodDefaults = {}): WorkerPodSettings {
  const pick = <K extends keyof WorkerPodSpec>(k: K): WorkerPodSpec[K] => (pool[k] !== undefined ? pool[k] : defaults[k]);
  const pdb = { ...BUILTIN_WORKER_DEFAULTS.podDisruptionBudget, ...(defaults.podDisruptionBudget ?? {}), ...(pool.podDisruptionBudget ?? {}) } as z.infer<typeof podDisruptionBudgetSchema>;
  // A pool that names one of the two bounds replaces the default's bound, whichever it was.
  const own = pool.podDisruptionBudget;
  const bound =
    own?.minAvailable !== undefined ? { minAvailable: own.minAvailable }
    : own?.maxUnavailable !== undefined ? { maxUnavailable: own.maxUnavailable }
    : defaults.podDisruptionBudget?.minAvailable !== undefined ? { minAvailable: defaults.podDisruptionBudget.minAvailable }
    : { maxUnavailable: pdb.maxUnavailable ?? 1 };
  const out: WorkerPodSettings = {
    logLevel: pick('logLevel') ?? BUILTIN_WORKER_DEFAULTS.logLevel,
    resources: workerResources(poolResources, defaults.resources ?? BUILTIN_WORKER_DEFAULTS.resources),
    ...(pdb.enabled === false ? {} : { podDisruptionBudget: bound }),
  };
  for (const k of ['imagePullSecrets', 'nodeSelector', 'tolerations', 'affinity', 'topologySpreadConstraints', 'priorityClassName'] as const) {
    const v = pick(k);
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = structuredClone(v);
  }
  return out;
}

export const pdbName = (poolName: string): string => deploymentName(poolName);

/** The pool's PodDisruptionBudget over its worker pods, owned by the pool (deleted with it). */
export function desiredPdb(pool: PoolRef, budget: NonNullable<WorkerPodSettings['podDisruptionBudget']>): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: pdbName(pool.name),
      namespace: pool.namespace,
      labels: { ...selectorLabels(pool.name), 'app.kubernetes.io/managed-by': 'vendorfetch-controller' },
      ownerReferences: [{ apiVersion: 'vendorfetch.io/v1alpha1', kind: 'VendorPool', name: pool.name, uid: pool.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: { ...budget, selector: { matchLabels: selectorLabels(pool.name) } } as V1PodDisruptionBudget['spec'],
  };
}
