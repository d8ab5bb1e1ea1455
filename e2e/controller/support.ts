// Shared helpers of the controller suites: find the real kube-apiserver (KUBECONFIG from jest's
// global setup or `eval "$(npm run -s testenv -- up)"`), make a namespace per suite, poll with
// a deadline.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, paths, type VendorPoolObject } from '../../controller/api-types.js';
import { loadCrd } from '../../controller/crd-schema.js';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import type { ControllerOptions } from '../../controller/controller.js';
import { CONTENT, createKubeClient, isKubeError, type KubeClient } from '../../controller/kube.js';
import { createControllerMetrics } from '../../controller/metrics.js';
import { VendorRegistry } from '../../core/registry.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface KubeEnv {
  kc: KubeConfig;
  kube: KubeClient;
}

/** The API server of the test environment, or the reason it cannot be used. */
export async function findKube(): Promise<{ env?: KubeEnv; reason?: string }> {
  const file = process.env.KUBECONFIG;
  if (!file) return { reason: 'KUBECONFIG is not set (run via npm test, or eval "$(npm run -s testenv -- up)")' };
  if (!process.env.VF_TESTENV_BIN) return { reason: 'VF_TESTENV_BIN is not set: refusing to touch a KUBECONFIG that is not the test environment' };
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    const kube = createKubeClient(kc);
    await kube.request({ method: 'GET', path: '/version', timeoutMs: 3000 });
    try {
      await kube.request({ method: 'GET', path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/vendorpools.vendorfetch.io', timeoutMs: 3000 });
    } catch (err) {
      if (isKubeError(err, 404)) return { reason: 'the VendorPool CRD is not installed in the test API server' };
      throw err;
    }
    await ensureCrd(kube);
    return { env: { kc, kube } };
  } catch (err) {
    return { reason: `the API server at ${file} does not answer: ${(err as Error).message}` };
  }
}

/** `describe` when the API server is there, else `describe.skip` after printing why. */
export async function describeWithKube(): Promise<{ describe: (name: string, fn: () => void) => void; env: KubeEnv | undefined }> {
  const { env, reason } = await findKube();
  if (!env) {
    console.warn(`SKIPPED (no kube-apiserver): ${reason}`);
    // The reason also shows in the test list, where reporters keep it even for skipped suites.
    test.skip(`needs the kube-apiserver test environment: ${reason}`, () => {});
    return { describe: describe.skip, env: undefined };
  }
  return { describe, env };
}

export const suffix = (): string => randomBytes(3).toString('hex');

export async function createNamespace(kube: KubeClient, prefix: string): Promise<string> {
  const name = `${prefix}-${suffix()}`;
  await kube.request({ method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  return name;
}

/** Namespaces never finish deleting here (no kube-controller-manager); the delete is best effort. */
export async function deleteNamespace(kube: KubeClient, name: string): Promise<void> {
  await kube.request({ method: 'DELETE', path: `/api/v1/namespaces/${name}` }).catch(() => {});
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function poolObject(namespace: string, name: string, spec: unknown): Record<string, unknown> {
  return { apiVersion: API_VERSION, kind: 'VendorPool', metadata: { name, namespace }, spec };
}

export async function createPool(kube: KubeClient, namespace: string, name: string, spec: unknown): Promise<VendorPoolObject> {
  return kube.request<VendorPoolObject>({ method: 'POST', path: paths.pools(namespace), body: poolObject(namespace, name, spec) });
}

export const getPool = (kube: KubeClient, namespace: string, name: string) =>
  kube.request<VendorPoolObject>({ method: 'GET', path: paths.pool(namespace, name) });

export const compiledController = path.join(REPO_ROOT, 'dist', 'controller', 'main.js');
export const haveCompiledController = (): boolean => existsSync(compiledController);

export const vendor = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  url: `http://127.0.0.1:9101/${name}`,
  quota: { requestsPerSecond: 10 },
  ...extra,
});

/**
 * Apply crds/vendorpools.vendorfetch.io.yaml exactly as written (server-side apply of the raw
 * document, as `kubectl apply --server-side` would) and wait until it is Established. The test
 * environment also applies it, but through client-node's typed serializer, which drops the
 * `x-kubernetes-*` extensions (CEL rules, preserve-unknown-fields) and some defaults; these
 * suites test the CRD as users install it.
 */
export async function ensureCrd(kube: KubeClient): Promise<void> {
  const crd = loadCrd() as unknown as { metadata: { name: string } };
  const p = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`;
  await kube.request({ method: 'PATCH', path: p, query: { fieldManager: 'vf-controller-tests', force: true }, body: crd, contentType: CONTENT.apply });
  await until('the VendorPool CRD to be Established', async () => {
    const got = await kube.request<{ metadata: { generation: number }; status?: { observedGeneration?: number; conditions?: Array<{ type: string; status: string }> } }>({ method: 'GET', path: p });
    return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
  }, 15_000);
  // The API server picks up a changed schema a moment after Established.
  await new Promise((r) => setTimeout(r, 1000));
}

/**
 * An in-process controller's options for a suite: the test apiserver, the suite's Redis and
 * namespace, quick timers, silent logs (LOG_LEVEL shows them). `overrides` wins.
 */
export function testControllerOptions(kubeEnv: KubeEnv, redis: Redis, namespace: string, overrides: Partial<ControllerOptions> & Pick<ControllerOptions, 'deployment'>): ControllerOptions {
  return {
    kc: kubeEnv.kc,
    kube: kubeEnv.kube,
    registry: new VendorRegistry(redis),
    redis,
    metrics: createControllerMetrics(),
    logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
    namespace,
    lagPollMs: 300,
    retryBaseMs: 100,
    retryMaxMs: 1000,
    ...overrides,
  };
}

/** Delete every pool of a namespace and wait until they are gone; a controller must still run to remove their finalizers. */
export async function deletePools(kube: KubeClient, namespace: string): Promise<void> {
  const list = await kube.request<{ items: VendorPoolObject[] }>({ method: 'GET', path: paths.pools(namespace) });
  for (const p of list.items) await kube.request({ method: 'DELETE', path: paths.pool(namespace, p.metadata.name) }).catch(() => {});
  await until('pools gone', async () => (await kube.request<{ items: unknown[] }>({ method: 'GET', path: paths.pools(namespace) })).items.length === 0, 10_000).catch(() => {});
}
