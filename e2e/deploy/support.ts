// Shared pieces of the deploy suites: where helm and the test cluster are, running helm (and
// kubectl kustomize), turning rendered YAML into objects, server-side applying them (dry-run or
// for real) and a KubeConfig that acts as a ServiceAccount through impersonation.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHART_DIR = path.join(REPO_ROOT, 'charts', 'vendorfetch');
export const MANIFESTS_DIR = path.join(REPO_ROOT, 'manifests');
/** The Kubernetes version the test servers run (and helm lint/template are told about). */
export const KUBE_VERSION = '1.33.0';
export const FIELD_MANAGER = 'vf-deploy-test';

export interface DeployEnv {
  kubeconfig: string;
  helm: string;
}

async function executable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The test servers from jest's global setup, or why they are missing (the suite then skips). */
export async function deployEnv(): Promise<DeployEnv | { skip: string }> {
  const { KUBECONFIG: kubeconfig, VF_TESTENV_BIN: bin } = process.env;
  if (!kubeconfig || !bin) {
    return {
      skip:
        'KUBECONFIG and VF_TESTENV_BIN are not set: these suites need the test kube-apiserver and helm from ' +
        "testing/testenv (jest's global setup starts them in `npm test`; VF_TESTENV=off turns them off)",
    };
  }
  const helm = path.join(bin, 'helm');
  if (!(await executable(helm))) return { skip: `no helm binary at ${helm} (build it: npm run testenv -- build helm)` };
  return { kubeconfig, helm };
}

/** Find a program on PATH (kubectl is optional: a user's machine may not have it). */
export async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && (await executable(path.join(dir, name)))) return path.join(dir, name);
  }
  return undefined;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a program; never throws for a non-zero exit (the result says how it ended). */
export function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, ...env }, maxBuffer: 32 * 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** helm with its caches in a throw-away dir, so a test run never touches ~/.cache/helm. */
export async function helmRunner(helm: string): Promise<{ helm: (args: string[]) => Promise<RunResult>; cleanup: () => Promise<void> }> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'vf-helm-'));
  const env = {
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_DATA_HOME: path.join(home, 'data'),
  };
  return {
    helm: (args) => run(helm, args, env),
    cleanup: () => rm(home, { recursive: true, force: true }),
  };
}

export type KObject = k8s.KubernetesObject & { [key: string]: unknown };

/** Every non-empty document of a multi-document YAML stream. */
export function parseObjects(yamlText: string): KObject[] {
  const out: KObject[] = [];
  for (const doc of parseAllDocuments(yamlText)) {
    if (doc.errors.length) throw new Error(`invalid YAML: ${doc.errors[0]?.message}`);
    const obj = doc.toJS() as KObject | null;
    if (obj && typeof obj === 'object' && obj.kind) out.push(obj);
  }
  return out;
}

const CLUSTER_SCOPED = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'PriorityClass', 'StorageClass']);
export const isClusterScoped = (o: KObject): boolean => CLUSTER_SCOPED.has(o.kind ?? '');

// Order a real apply the way helm does: what others refer to first.
const ORDER = ['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'Secret', 'ConfigMap', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Service', 'Deployment', 'PodDisruptionBudget', 'Ingress'];
const rank = (o: KObject) => {
  const i = ORDER.indexOf(o.kind ?? '');
  return i === -1 ? ORDER.length : i;
};

/** Put namespaced objects into `namespace` (helm template leaves metadata.namespace unset). */
export function intoNamespace(objects: KObject[], namespace: string): KObject[] {
  return objects
    .map((o) => (isClusterScoped(o) ? o : { ...o, metadata: { ...o.metadata, namespace } }))
    .sort((a, b) => rank(a) - rank(b));
}

export interface ApplyFailure {
  object: string;
  message: string;
}

export const describeObject = (o: KObject): string => `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;

/** Server-side apply each object (force, one field manager); returns what the server refused. */
export async function applyAll(kc: k8s.KubeConfig, objects: KObject[], opts: { dryRun: boolean }): Promise<ApplyFailure[]> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  const failures: ApplyFailure[] = [];
  for (const o of objects) {
    try {
      await api.patch(o, undefined, opts.dryRun ? 'All' : undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
    } catch (err) {
      const body = err instanceof k8s.ApiException ? String(err.body) : String(err);
      failures.push({ object: describeObject(o), message: body.slice(0, 600) });
    }
  }
  return failures;
}

/** Delete cluster-scoped objects a test created (namespaced ones go with their namespace). */
export async function deleteClusterScoped(kc: k8s.KubeConfig, objects: KObject[]): Promise<void> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const o of objects.filter((x) => isClusterScoped(x) && x.kind !== 'CustomResourceDefinition' && x.kind !== 'Namespace')) {
    await api.delete(o).catch(() => {});
  }
}

export function adminKubeConfig(kubeconfigPath: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc;
}

/**
 * The admin's credentials with `Impersonate-User: system:serviceaccount:<ns>:<sa>`: the API
 * server then authorises every request as that ServiceAccount (with the groups it would have:
 * system:serviceaccounts, system:serviceaccounts:<ns>, system:authenticated).
 */
export function impersonating(admin: k8s.KubeConfig, namespace: string, serviceAccount: string): k8s.KubeConfig {
  const user = admin.getCurrentUser();
  const cluster = admin.getCurrentCluster();
  if (!user || !cluster) throw new Error('the admin kubeconfig has no current user/cluster');
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ ...user, name: 'as-sa', impersonateUser: `system:serviceaccount:${namespace}:${serviceAccount}` }],
    contexts: [{ name: 'as-sa', cluster: cluster.name, user: 'as-sa' }],
    currentContext: 'as-sa',
  });
  return kc;
}

export async function createNamespace(kc: k8s.KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name, labels: { 'vendorfetch.io/test': 'deploy' } } } });
  return name;
}

/** No kube-controller-manager runs here: the namespace stays Terminating, which is fine. */
export async function deleteNamespace(kc: k8s.KubeConfig, name: string): Promise<void> {
  await kc.makeApiClient(k8s.CoreV1Api).deleteNamespace({ name }).catch(() => {});
}

/** Poll until `check` returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
