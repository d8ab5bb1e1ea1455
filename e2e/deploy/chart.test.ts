// The Helm chart and the kustomize base against the real tools and the real API server:
// helm lint, the values schema, and rendered manifests that the API server accepts (server-side
// dry-run, then a real server-side apply into a throw-away namespace).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import * as k8s from '@kubernetes/client-node';
import { workerPodDefaultsSchema } from '../../controller/worker-pod.js';
import {
  adminKubeConfig,
  applyAll,
  CHART_DIR,
  createNamespace,
  deleteClusterScoped,
  deleteNamespace,
  deployEnv,
  helmRunner,
  intoNamespace,
  KUBE_VERSION,
  MANIFESTS_DIR,
  onPath,
  parseObjects,
  REPO_ROOT,
  run,
  type DeployEnv,
  type KObject,
  type RunResult,
} from './support.js';

const ALL_ON = path.join(CHART_DIR, 'ci', 'all-on-values.yaml');

describe('chart CRD', () => {
  // Helm's chart and kustomize's base can only read files below their own folder, hence copies.
  // On failure: node e2e/deploy/render-manifests.mjs (writes both).
  it('in manifests/ is byte-for-byte the CRD in crds/ (one source of truth)', async () => {
    const [source, copy] = await Promise.all([readFile(path.join(REPO_ROOT, 'crds', 'vendorpools.vendorfetch.io.yaml'), 'utf8'), readFile(path.join(MANIFESTS_DIR, 'crd', 'vendorpools.vendorfetch.io.yaml'), 'utf8')]);
    expect(copy === source).toBe(true);
  });

  it('in the chart is the CRD in crds/, byte-for-byte, inside the crds.install toggle with helm.sh/resource-policy: keep', async () => {
    const [source, template] = await Promise.all([readFile(path.join(REPO_ROOT, 'crds', 'vendorpools.vendorfetch.io.yaml'), 'utf8'), readFile(CRD_TEMPLATE, 'utf8')]);
    const lines = template.split('\n');
    expect(lines[0]).toBe('{{- if .Values.crds.install }}');
    expect(lines.at(-2)).toBe('{{- end }}');
    expect(template).toContain('  annotations:\n    # Kept on helm uninstall: deleting the CRD would delete every VendorPool.\n    helm.sh/resource-policy: keep\n');
    // Only helm's crds/ is installed before templates and never upgraded: the chart must not have one.
    await expect(readFile(path.join(CHART_DIR, 'crds', 'vendorpools.vendorfetch.io.yaml'), 'utf8')).rejects.toThrow(/ENOENT/);
    const unwrapped = lines
      .slice(2, -2)
      .join('\n')
      .replace('  annotations:\n    # Kept on helm uninstall: deleting the CRD would delete every VendorPool.\n    helm.sh/resource-policy: keep\n', '');
    expect(`${unwrapped}\n` === source).toBe(true);
  });
});

const CRD_TEMPLATE = path.join(CHART_DIR, 'templates', 'crds', 'vendorpools.vendorfetch.io.yaml');

const env = await deployEnv();
if ('skip' in env) console.warn(`e2e/deploy/chart.test.ts: skipped — ${env.skip}`);
const withCluster = 'skip' in env ? describe.skip : describe;
// kubectl carries kustomize; helm does not. A user's machine may lack kubectl.
const kubectl = await onPath('kubectl');
if (!kubectl && !('skip' in env)) console.warn('e2e/deploy/chart.test.ts: kustomize cases skipped — kubectl is not on PATH (it carries kustomize)');

withCluster('helm chart on kube-apiserver v1.33', () => {
  const { kubeconfig, helm: helmBin } = env as DeployEnv;
  let helm: (args: string[]) => Promise<RunResult>;
  let cleanupHelm: () => Promise<void>;
  // Built in beforeAll: a skipped suite still runs this body, without a kubeconfig.
  let admin: k8s.KubeConfig;
  const created: { namespaces: string[]; clusterObjects: KObject[] } = { namespaces: [], clusterObjects: [] };

  beforeAll(async () => {
    admin = adminKubeConfig(kubeconfig);
    ({ helm, cleanup: cleanupHelm } = await helmRunner(helmBin));
  });
  afterAll(async () => {
    await deleteClusterScoped(admin, created.clusterObjects);
    // The monitor stand-in CRDs are ours; the VendorPool CRD belongs to the environment.
    const objects = k8s.KubernetesObjectApi.makeApiClient(admin);
    for (const crd of monitorCrds()) await objects.delete(crd).catch(() => {});
    for (const ns of created.namespaces) await deleteNamespace(admin, ns);
    await cleanupHelm?.();
  });

  const template = async (release: string, namespace: string, extra: string[] = []): Promise<KObject[]> => {
    const r = await helm(['template', release, CHART_DIR, '--namespace', namespace, '--kube-version', KUBE_VERSION, ...extra]);
    if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.stderr}`);
    return parseObjects(r.stdout);
  };

  it('passes helm lint --strict, with defaults, with everything on and with the Tilt values', async () => {
    for (const extra of [[], ['-f', ALL_ON], ['-f', path.join(CHART_DIR, 'ci', 'tilt-values.yaml')]]) {
      const r = await helm(['lint', CHART_DIR, '--strict', '--kube-version', KUBE_VERSION, ...extra]);
      expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: expect.stringContaining('1 chart(s) linted, 0 chart(s) failed') });
    }
  });

  it.each([
    ['controller.replicas=0', ['--set', 'controller.replicas=0'], 'controller'],
    ['an unknown pull policy', ['--set', 'image.pullPolicy=Sometimes'], 'pullPolicy'],
    ['a misspelt top-level key', ['--set', 'apii.replicas=2'], 'apii'],
    ['an unknown log level', ['--set', 'logLevel=verbose'], 'logLevel'],
    ['privilege escalation', ['--set', 'securityContext.allowPrivilegeEscalation=true'], 'allowPrivilegeEscalation'],
    ['a webhook Secret name that is not a DNS label', ['--set', 'api.webhookSecrets[0]=Bad_Name'], 'webhookSecrets'],
    ['a non-Redis URL', ['--set', 'redis.url=http://redis:6379'], 'redis'],
    ['no MongoDB URL (a store is always wired)', ['--set', 'mongodb.url='], 'mongodb'],
    ['a worker budget with both bounds', ['--set', 'workers.podDisruptionBudget.minAvailable=1'], 'podDisruptionBudget'],
    ['an unknown worker log level', ['--set', 'workers.logLevel=loud'], 'logLevel'],
    ['an unknown dev MongoDB pull policy', ['--set', 'dev.mongodb.pullPolicy=Sometimes'], 'pullPolicy'],
    ['an empty dev MongoDB command', ['--set-json', 'dev.mongodb.command=[]'], 'command'],
  ])('values.schema.json rejects %s', async (_what, args, mentioned) => {
    const r = await helm(['template', 'vf', CHART_DIR, '--kube-version', KUBE_VERSION, ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/values don't meet the specifications of the schema/);
    expect(r.stderr).toContain(mentioned);
  });

  it('renders the defaults: 2 leader-electing controllers, hardened pods, no optional parts', async () => {
    const objs = await template('vendorfetch', 'vendorfetch');
    const kinds = objs.map((o) => `${o.kind}/${o.metadata?.name}`).sort();
    expect(kinds).toEqual(
      [
        'ClusterRole/vendorfetch-controller',
        'ClusterRoleBinding/vendorfetch-controller',
        'CustomResourceDefinition/vendorpools.vendorfetch.io',
        'Pod/vendorfetch-test-submit-job',
        'Deployment/vendorfetch-api',
        'Deployment/vendorfetch-controller',
        'PodDisruptionBudget/vendorfetch-api',
        'PodDisruptionBudget/vendorfetch-controller',
        'Role/vendorfetch-controller-leader-election',
        'RoleBinding/vendorfetch-controller-leader-election',
        'Secret/vendorfetch-connections',
        'Service/vendorfetch-api',
        'Service/vendorfetch-controller',
        'ServiceAccount/vendorfetch-api',
        'ServiceAccount/vendorfetch-controller',
      ].sort(),
    );
    const controller = objs.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'vendorfetch-controller') as k8s.V1Deployment;
    expect(controller.spec?.replicas).toBe(2);
    const env = controller.spec?.template.spec?.containers[0]?.env ?? [];
    expect(env.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(env.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
    expect(env.find((e) => e.name === 'VF_LEASE_NAME')?.value).toBe('vendorfetch-controller');
    // Only the controller talks to the Kubernetes API: nobody else gets a token.
    const api = objs.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'vendorfetch-api') as k8s.V1Deployment;
    expect(api.spec?.template.spec?.automountServiceAccountToken).toBe(false);
    expect(controller.spec?.template.spec?.serviceAccountName).toBe('vendorfetch-controller');
    for (const d of objs.filter((o): o is KObject & k8s.V1Deployment => o.kind === 'Deployment')) {
      const pod = d.spec!.template.spec!;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      for (const c of pod.containers) {
        expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
        expect(c.readinessProbe).toBeDefined();
        expect(c.livenessProbe).toBeDefined();
        expect(c.resources?.requests).toBeDefined();
      }
    }
  });

  it('renders the worker pod defaults into VF_WORKER_POD_DEFAULTS, in the form the controller parses', async () => {
    const defaultsOf = async (extra: string[]) => {
      const objs = await template('vendorfetch', 'vendorfetch', extra);
      const controller = objs.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'vendorfetch-controller') as k8s.V1Deployment;
      const value = controller.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'VF_WORKER_POD_DEFAULTS')?.value;
      return workerPodDefaultsSchema.parse(JSON.parse(value ?? 'null'));
    };
    expect(await defaultsOf([])).toEqual({
      logLevel: 'info',
      resources: { requests: { cpu: '100m', memory: '192Mi' }, limits: { memory: '512Mi' } },
      podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
    });
    // Empty pull secrets and log level fall back to the top-level ones.
    const set = await defaultsOf([
      '--set-json', 'imagePullSecrets=[{"name":"regcred"}]',
      '--set', 'logLevel=warn',
      '--set-json', 'workers.nodeSelector={"vendorfetch.io/workers":"true"}',
      '--set-json', 'workers.tolerations=[{"key":"dedicated","operator":"Exists","effect":"NoSchedule"}]',
      '--set-json', 'workers.topologySpreadConstraints=[{"maxSkew":1,"topologyKey":"kubernetes.io/hostname","whenUnsatisfiable":"ScheduleAnyway"}]',
      '--set', 'workers.priorityClassName=batch',
      '--set-json', 'workers.podDisruptionBudget={"enabled":true,"minAvailable":"50%","maxUnavailable":null}',
    ]);
    expect(set).toMatchObject({
      imagePullSecrets: [{ name: 'regcred' }],
      logLevel: 'warn',
      nodeSelector: { 'vendorfetch.io/workers': 'true' },
      tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
      priorityClassName: 'batch',
      podDisruptionBudget: { enabled: true, minAvailable: '50%' },
    });
    expect((await defaultsOf(['--set', 'workers.logLevel=debug'])).logLevel).toBe('debug');
  });

  it('renders the CRD as a template (keep on uninstall) unless crds.install=false', async () => {
    const crd = (await template('vendorfetch', 'vendorfetch')).find((o) => o.kind === 'CustomResourceDefinition');
    expect(crd?.metadata?.annotations?.['helm.sh/resource-policy']).toBe('keep');
    const off = await template('vendorfetch', 'vendorfetch', ['--set', 'crds.install=false']);
    expect(off.filter((o) => o.kind === 'CustomResourceDefinition')).toEqual([]);
  });

  it('renders the dev stores with their pull policies and a configurable MongoDB command (FerretDB)', async () => {
    const ferret = ['/usr/local/bin/ferretdb', '--listen-addr', '0.0.0.0:27017', '--sqlite-dir', '/data/db'];
    const objs = await template('vendorfetch', 'vendorfetch', ['-f', ALL_ON, '--set', 'dev.mongodb.image=ghcr.io/ferretdb/ferretdb:1', '--set-json', `dev.mongodb.command=${JSON.stringify(ferret)}`, '--set', 'dev.redis.pullPolicy=Never']);
    const dep = (name: string) => (objs.find((o) => o.kind === 'Deployment' && o.metadata?.name === name) as k8s.V1Deployment).spec!.template.spec!.containers[0]!;
    expect(dep('vendorfetch-mongodb')).toMatchObject({ image: 'ghcr.io/ferretdb/ferretdb:1', command: ferret, imagePullPolicy: 'IfNotPresent' });
    expect(dep('vendorfetch-redis').imagePullPolicy).toBe('Never');
    const defaults = await template('vendorfetch', 'vendorfetch', ['-f', ALL_ON]);
    const mongo = (defaults.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'vendorfetch-mongodb') as k8s.V1Deployment).spec!.template.spec!.containers[0]!;
    expect(mongo.command).toEqual(['mongod', '--bind_ip_all', '--dbpath', '/data/db', '--nounixsocket']);
  });

  it('renders a `helm test` hook: the product image, non-root, read-only root, and its script completes a job', async () => {
    const objs = await template('vendorfetch', 'vendorfetch', ['--set', 'mocks.enabled=true', '--set', 'api.apiKeys.existingSecret.name=keys']);
    const pod = objs.find((o) => o.kind === 'Pod') as k8s.V1Pod;
    expect(pod.metadata?.annotations?.['helm.sh/hook']).toBe('test');
    expect(pod.spec?.automountServiceAccountToken).toBe(false);
    expect(pod.spec?.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    const c = pod.spec!.containers[0]!;
    expect(c.image).toBe('ghcr.io/vendorfetch/vendorfetch:0.1.0');
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true, allowPrivilegeEscalation: false });
    expect(c.args?.slice(0, 2)).toEqual(['node', '-e']);
    const envOf = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
    expect(envOf.API_URL?.value).toBe('http://vendorfetch-api.vendorfetch.svc:8080');
    expect(envOf.VENDOR?.value).toBe('sync');
    expect(envOf.API_KEYS?.valueFrom?.secretKeyRef).toEqual({ name: 'keys', key: 'api-keys' });
    expect((await template('vendorfetch', 'vendorfetch', ['--set', 'tests.enabled=false'])).filter((o) => o.kind === 'Pod')).toEqual([]);

    // The script itself, against a stand-in api: 503 first (api starting), then 202, then
    // processing → complete. And a job that fails makes the test fail.
    const runScript = async (final: 'complete' | 'failed') => {
      const seen: string[] = [];
      let posts = 0;
      let gets = 0;
      const server = http.createServer((req, res) => {
        seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
        res.setHeader('content-type', 'application/json');
        if (req.method === 'POST') {
          posts++;
          res.statusCode = posts === 1 ? 503 : 202;
          return res.end(JSON.stringify(posts === 1 ? { title: 'starting' } : { request_id: 'id-1' }));
        }
        gets++;
        res.end(JSON.stringify({ request_id: 'id-1', status: gets < 2 ? 'processing' : final, attempts: 1, error: final === 'failed' ? { code: 'x' } : undefined }));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const port = (server.address() as { port: number }).port;
        const r = await run(process.execPath, ['-e', c.args![2]!], { API_URL: `http://127.0.0.1:${port}`, VENDOR: 'sync', TIMEOUT_SECONDS: '20', API_KEYS: 'k1, k2' });
        return { ...r, seen };
      } finally {
        server.close();
      }
    };
    const ok = await runScript('complete');
    expect({ code: ok.code, out: ok.stdout }).toEqual({ code: 0, out: expect.stringContaining('PASS: job id-1 complete') });
    expect(ok.seen[0]).toBe('POST /jobs Bearer k1');
    const bad = await runScript('failed');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('FAIL: job id-1 failed');
  });

  it('renders a namespace-scoped controller: Role instead of ClusterRole, VF_WATCH_NAMESPACE set', async () => {
    const objs = await template('vendorfetch', 'vendorfetch', ['--set', 'controller.watchNamespace=team-a']);
    expect(objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toEqual([]);
    const role = objs.find((o) => o.kind === 'Role' && o.metadata?.name === 'vendorfetch-controller') as k8s.V1Role;
    expect(role.metadata?.namespace).toBe('team-a');
    expect(role.rules?.map((r) => r.resources?.[0])).toEqual(['vendorpools', 'vendorpools/status', 'vendorpools/finalizers', 'deployments', 'poddisruptionbudgets', 'pods', 'events']);
    const binding = objs.find((o) => o.kind === 'RoleBinding' && o.metadata?.name === 'vendorfetch-controller') as unknown as k8s.V1RoleBinding;
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'vendorfetch-controller', namespace: 'vendorfetch' }]);
    const controller = objs.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'vendorfetch-controller') as k8s.V1Deployment;
    expect(controller.spec?.template.spec?.containers[0]?.env).toContainEqual({ name: 'VF_WATCH_NAMESPACE', value: 'team-a' });
  });

  it('renders everything on: ingress, mocks with their webhook secret mounted into the api, dev stores, monitors', async () => {
    const objs = await template('vendorfetch', 'vendorfetch', ['-f', ALL_ON]);
    const names = new Set(objs.map((o) => `${o.kind}/${o.metadata?.name}`));
    for (const n of ['Ingress/vendorfetch-api', 'Deployment/vendorfetch-mocks', 'Service/vendorfetch-mock-sync', 'Service/vendorfetch-mock-async', 'Secret/async-webhook', 'Deployment/vendorfetch-redis', 'Deployment/vendorfetch-mongodb', 'PodMonitor/vendorfetch-api', 'ServiceMonitor/vendorfetch-controller', 'PodMonitor/vendorfetch-workers', 'PrometheusRule/vendorfetch', 'ConfigMap/vendorfetch-dashboard']) {
      expect(names).toContain(n);
    }
    const api = objs.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'vendorfetch-api') as k8s.V1Deployment;
    const mounts = api.spec?.template.spec?.containers[0]?.volumeMounts?.map((m) => m.mountPath);
    expect(mounts).toEqual(expect.arrayContaining(['/var/run/vendorfetch/secrets/async-webhook', '/var/run/vendorfetch/secrets/partner-webhook']));
    const secret = objs.find((o) => o.kind === 'Secret' && o.metadata?.name === 'vendorfetch-connections') as k8s.V1Secret;
    expect(secret.stringData).toEqual({ 'redis-url': 'redis://vendorfetch-redis:6379', 'mongodb-url': 'mongodb://vendorfetch-mongodb:27017/vendorfetch' });
    const whsec = objs.find((o) => o.kind === 'Secret' && o.metadata?.name === 'async-webhook') as k8s.V1Secret;
    expect(Buffer.from(whsec.data?.secret ?? '', 'base64').toString()).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
  });

  // Minimal stand-ins for the Prometheus Operator CRDs, so the monitors and rules can be applied here.
  const monitorCrds = (): KObject[] =>
    ['ServiceMonitor', 'PodMonitor', 'PrometheusRule'].map((kind) => ({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${kind.toLowerCase()}s.monitoring.coreos.com` },
      spec: {
        group: 'monitoring.coreos.com',
        scope: 'Namespaced',
        names: { kind, plural: `${kind.toLowerCase()}s`, singular: kind.toLowerCase(), listKind: `${kind}List` },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } } }],
      },
    }));

  async function applyTwice(objects: KObject[]): Promise<void> {
    expect(await applyAll(admin, objects, { dryRun: true })).toEqual([]);
    expect(await applyAll(admin, objects, { dryRun: false })).toEqual([]);
  }

  it.each([
    ['default values', [] as string[]],
    ['everything on', ['-f', ALL_ON]],
  ])('%s: the API server accepts every object (server-side dry-run, then for real)', async (what, extra) => {
    const ns = await createNamespace(admin, 'vf-chart');
    created.namespaces.push(ns);
    const release = `vf${randomBytes(3).toString('hex')}`;
    if (extra.length) {
      const crds = monitorCrds();
      expect(await applyAll(admin, crds, { dryRun: false })).toEqual([]);
      await new Promise((r) => setTimeout(r, 1500)); // let discovery pick the new kinds up
    }
    const objects = intoNamespace(await template(release, ns, ['--include-crds', ...extra]), ns);
    created.clusterObjects.push(...objects);
    await applyTwice(objects);

    const apps = admin.makeApiClient(k8s.AppsV1Api);
    const deployments = (await apps.listNamespacedDeployment({ namespace: ns })).items.map((d) => d.metadata?.name).sort();
    const expected = [`${release}-vendorfetch-api`, `${release}-vendorfetch-controller`];
    if (what === 'everything on') expected.push(`${release}-vendorfetch-mocks`, `${release}-vendorfetch-mongodb`, `${release}-vendorfetch-redis`);
    expect(deployments).toEqual(expected.sort());
    // A second apply of the same objects is a no-op for the server (idempotent manifests).
    expect(await applyAll(admin, objects, { dryRun: false })).toEqual([]);
  });

  const kubectlCase = kubectl ? it : it.skip;

  kubectlCase('manifests/ (kubectl kustomize) matches the chart defaults for release "vendorfetch" in namespace "vendorfetch"', async () => {
    const k = await run('kubectl', ['kustomize', MANIFESTS_DIR]);
    expect(k.stderr).toBe('');
    const fromKustomize = parseObjects(k.stdout).filter((o) => o.kind !== 'Namespace').map(stripHelm);
    const fromHelm = intoNamespace(await template('vendorfetch', 'vendorfetch', ['--skip-tests']), 'vendorfetch').map(stripHelm);
    const key = (o: KObject) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
    expect(fromKustomize.map(key).sort()).toEqual(fromHelm.map(key).sort());
    // The controller's RBAC in manifests/ is kept by hand (manifests/controller-rbac.yaml): it must
    // grant the same verbs on the same resources to the same subjects; the rest is generated and
    // must be identical.
    const helmByKey = new Map(fromHelm.map((o) => [key(o), o]));
    for (const o of fromKustomize) {
      const h = helmByKey.get(key(o))!;
      if (RBAC_KINDS.has(o.kind ?? '')) expect({ id: key(o), ...rbacMeaning(o) }).toEqual({ id: key(o), ...rbacMeaning(h) });
      else if (o.kind !== 'ServiceAccount' || o.metadata?.name !== 'vendorfetch-controller') expect(o).toEqual(h);
    }
  });

  kubectlCase('manifests/ applies cleanly into a test namespace (dry-run, then for real)', async () => {
    const ns = await createNamespace(admin, 'vf-kustomize');
    created.namespaces.push(ns);
    // An overlay that only moves the base into the test namespace (kustomize also rewrites the
    // RoleBinding subjects).
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-kustomize-'));
    try {
      await writeFile(path.join(dir, 'kustomization.yaml'), `namespace: ${ns}\nresources:\n  - ${path.relative(dir, MANIFESTS_DIR)}\n`);
      const k = await run('kubectl', ['kustomize', dir]);
      expect(k.code).toBe(0);
      const objects = intoNamespace(parseObjects(k.stdout).filter((o) => o.kind !== 'Namespace'), ns);
      created.clusterObjects.push(...objects);
      await applyTwice(objects);
      const apps = admin.makeApiClient(k8s.AppsV1Api);
      const deployments = (await apps.listNamespacedDeployment({ namespace: ns })).items.map((d) => d.metadata?.name).sort();
      expect(deployments).toEqual(['vendorfetch-api', 'vendorfetch-controller']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const RBAC_KINDS = new Set(['ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding']);

/** What an RBAC object grants: sorted verbs per group/resource (names on a rule ignored), and bindings. */
function rbacMeaning(o: KObject): Record<string, unknown> {
  const rules = (o as k8s.V1ClusterRole).rules ?? [];
  const grants: Record<string, string[]> = {};
  for (const r of rules) {
    for (const g of r.apiGroups ?? ['']) for (const res of r.resources ?? []) {
      const k = `${g}/${res}`;
      grants[k] = [...new Set([...(grants[k] ?? []), ...r.verbs])].sort();
    }
  }
  const b = o as unknown as k8s.V1ClusterRoleBinding;
  return { grants, roleRef: b.roleRef?.name, subjects: b.subjects?.map((s) => `${s.kind}/${s.namespace}/${s.name}`) };
}

/** Drop what only helm adds (its labels, the checksum annotations). */
function stripHelm(o: KObject): KObject {
  const clean = (labels?: Record<string, string>) => {
    if (!labels) return labels;
    const { 'helm.sh/chart': _c, 'app.kubernetes.io/managed-by': _m, ...rest } = labels;
    return rest;
  };
  const copy = structuredClone(o) as KObject & { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } };
  if (copy.metadata) copy.metadata = { ...copy.metadata, labels: clean(copy.metadata.labels) };
  // helm.sh/resource-policy (the CRD's "keep") means something to helm only.
  if (copy.metadata?.annotations?.['helm.sh/resource-policy']) {
    const { 'helm.sh/resource-policy': _p, ...rest } = copy.metadata.annotations;
    copy.metadata = { ...copy.metadata, annotations: rest };
    if (Object.keys(rest).length === 0) delete copy.metadata.annotations;
  }
  const tpl = copy.spec?.template?.metadata as { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined;
  if (tpl) {
    tpl.labels = clean(tpl.labels);
    for (const k of Object.keys(tpl.annotations ?? {})) if (k.startsWith('checksum/')) delete tpl.annotations![k];
    if (tpl.annotations && Object.keys(tpl.annotations).length === 0) delete tpl.annotations;
  }
  return copy;
}
