// Least privilege, proven on the real API server: the chart's RBAC is applied, then
// (1) SubjectAccessReviews list what the controller's ServiceAccount may and may not do, and
// (2) the real controller runs in this process with a KubeConfig that impersonates that
//     ServiceAccount — leader election on its Lease, informers, finalizers, server-side apply of
//     the worker Deployments, status writes — and reconciles the example VendorPools.
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { createLogger } from '../../core/logger.js';
import { VendorRegistry } from '../../core/registry.js';
import { FINALIZER } from '../../controller/api-types.js';
import { createController, type Controller } from '../../controller/controller.js';
import { createKubeClient } from '../../controller/kube.js';
import { createLeaderElector, type LeaderElector } from '../../controller/leader.js';
import { createControllerMetrics } from '../../controller/metrics.js';
import { startRedis, type RedisServer } from '../../testing/redis-server.js';
import {
  adminKubeConfig,
  applyAll,
  CHART_DIR,
  createNamespace,
  deleteClusterScoped,
  deleteNamespace,
  deployEnv,
  eventually,
  helmRunner,
  impersonating,
  intoNamespace,
  KUBE_VERSION,
  MANIFESTS_DIR,
  parseObjects,
  REPO_ROOT,
  type DeployEnv,
  type KObject,
} from './support.js';

const env = await deployEnv();
if ('skip' in env) console.warn(`e2e/deploy/controller-rbac.test.ts: skipped — ${env.skip}`);
const withCluster = 'skip' in env ? describe.skip : describe;

/** The example VendorPools: manifests/examples/ when present, else examples/vendorpools/. */
async function examplePools(): Promise<{ dir: string; pools: KObject[] }> {
  for (const dir of [path.join(MANIFESTS_DIR, 'examples'), path.join(REPO_ROOT, 'examples', 'vendorpools')]) {
    let files: string[];
    try {
      files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
    } catch {
      continue;
    }
    const pools: KObject[] = [];
    for (const f of files) pools.push(...parseObjects(await readFile(path.join(dir, f), 'utf8')).filter((o) => o.kind === 'VendorPool'));
    if (pools.length) return { dir, pools };
  }
  throw new Error('no example VendorPools found');
}

withCluster('controller RBAC from the chart (kube-apiserver v1.33)', () => {
  const { kubeconfig, helm: helmBin } = env as DeployEnv;
  // Built in beforeAll: a skipped suite still runs this body, without a kubeconfig.
  let admin: k8s.KubeConfig;
  const release = `vf${randomBytes(3).toString('hex')}`;
  const fullname = `${release}-vendorfetch`;
  const sa = `${fullname}-controller`;
  const leaseName = `${fullname}-controller`;
  let ns = '';
  let other = '';
  let rendered: KObject[] = [];

  beforeAll(async () => {
    admin = adminKubeConfig(kubeconfig);
    ns = await createNamespace(admin, 'vf-rbac');
    other = await createNamespace(admin, 'vf-rbac-other');
    const { helm, cleanup } = await helmRunner(helmBin);
    try {
      const r = await helm(['template', release, CHART_DIR, '--namespace', ns, '--kube-version', KUBE_VERSION]);
      if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
      rendered = intoNamespace(parseObjects(r.stdout), ns);
    } finally {
      await cleanup();
    }
    const failures = await applyAll(admin, rendered, { dryRun: false });
    if (failures.length) throw new Error(`applying the chart failed: ${JSON.stringify(failures)}`);
  });

  afterAll(async () => {
    await deleteClusterScoped(admin, rendered);
    await deleteNamespace(admin, ns);
    await deleteNamespace(admin, other);
  });

  async function can(attrs: k8s.V1ResourceAttributes): Promise<boolean> {
    const review = await admin.makeApiClient(k8s.AuthorizationV1Api).createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: `system:serviceaccount:${ns}:${sa}`,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
          resourceAttributes: attrs,
        },
      },
    });
    return review.status?.allowed === true;
  }

  const pool = (verb: string, namespace: string, subresource?: string) => ({ group: 'vendorfetch.io', resource: 'vendorpools', verb, namespace, ...(subresource ? { subresource } : {}) });
  const deployment = (verb: string, namespace: string) => ({ group: 'apps', resource: 'deployments', verb, namespace });
  const lease = (verb: string, namespace: string, name?: string) => ({ group: 'coordination.k8s.io', resource: 'leases', verb, namespace, ...(name ? { name } : {}) });

  it('allows exactly what the controller calls', async () => {
    const needed: [string, k8s.V1ResourceAttributes][] = [
      ['list VendorPools in all namespaces', pool('list', '')],
      ['watch VendorPools in all namespaces', pool('watch', '')],
      ['get a VendorPool', pool('get', other)],
      ['patch a VendorPool (finalizer)', pool('patch', other)],
      ['patch VendorPool status', pool('patch', other, 'status')],
      ['update VendorPool finalizers (blockOwnerDeletion)', pool('update', other, 'finalizers')],
      ['list Deployments in all namespaces', deployment('list', '')],
      ['watch Deployments in all namespaces', deployment('watch', '')],
      ['get a Deployment', deployment('get', other)],
      ['patch (server-side apply) a Deployment', deployment('patch', other)],
      ['create a Deployment (an apply that creates is also authorised as create)', deployment('create', other)],
      ['server-side apply a pool PodDisruptionBudget', { group: 'policy', resource: 'poddisruptionbudgets', verb: 'patch', namespace: other }],
      ['create a pool PodDisruptionBudget (apply that creates)', { group: 'policy', resource: 'poddisruptionbudgets', verb: 'create', namespace: other }],
      ['get a pool PodDisruptionBudget', { group: 'policy', resource: 'poddisruptionbudgets', verb: 'get', namespace: other }],
      ['delete a pool PodDisruptionBudget (budget turned off)', { group: 'policy', resource: 'poddisruptionbudgets', verb: 'delete', namespace: other }],
      ['list worker Pods (why not ready)', { resource: 'pods', verb: 'list', namespace: other }],
      ['create an Event about a pool (events.k8s.io/v1)', { group: 'events.k8s.io', resource: 'events', verb: 'create', namespace: other }],
      ['create an Event about its Lease', { group: 'events.k8s.io', resource: 'events', verb: 'create', namespace: ns }],
      ['create a Lease in its namespace', lease('create', ns)],
      ['get its Lease', lease('get', ns, leaseName)],
      ['update its Lease', lease('update', ns, leaseName)],
    ];
    const results = await Promise.all(needed.map(async ([what, attrs]) => [what, await can(attrs)] as const));
    expect(results.filter(([, ok]) => !ok).map(([what]) => what)).toEqual([]);
  });

  it('denies everything else it might be tempted to do', async () => {
    const forbidden: [string, k8s.V1ResourceAttributes][] = [
      ['read Secrets in another namespace', { resource: 'secrets', verb: 'get', namespace: other }],
      ['read Secrets in its own namespace', { resource: 'secrets', verb: 'get', namespace: ns }],
      ['list Secrets anywhere', { resource: 'secrets', verb: 'list', namespace: '' }],
      ['delete namespaces', { resource: 'namespaces', verb: 'delete', name: other }],
      ['delete Deployments', deployment('delete', other)],
      ['update (replace) Deployments', deployment('update', other)],
      ['update (replace) VendorPools', pool('update', other)],
      ['delete VendorPools', pool('delete', other)],
      ['update VendorPool status with PUT', pool('update', other, 'status')],
      ['update another Lease', lease('update', ns, 'kube-scheduler')],
      ['create Leases in another namespace', lease('create', other)],
      ['create Pods', { resource: 'pods', verb: 'create', namespace: ns }],
      ['delete Pods', { resource: 'pods', verb: 'delete', namespace: other }],
      ['watch Pods', { resource: 'pods', verb: 'watch', namespace: '' }],
      ['read Pod logs', { resource: 'pods', verb: 'get', subresource: 'log', namespace: other }],
      ['list Events', { resource: 'events', verb: 'list', namespace: other }],
      ['list Events (events.k8s.io)', { group: 'events.k8s.io', resource: 'events', verb: 'list', namespace: other }],
      ['create core/v1 Events (it writes events.k8s.io/v1 only)', { resource: 'events', verb: 'create', namespace: other }],
      ['list PodDisruptionBudgets', { group: 'policy', resource: 'poddisruptionbudgets', verb: 'list', namespace: '' }],
      ['read ConfigMaps', { resource: 'configmaps', verb: 'get', namespace: ns }],
      ['edit its own RBAC', { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', verb: 'update', name: `${fullname}-controller` }],
      ['impersonate users', { resource: 'users', verb: 'impersonate' }],
      ['edit the CRD', { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', verb: 'update' }],
    ];
    const results = await Promise.all(forbidden.map(async ([what, attrs]) => [what, await can(attrs)] as const));
    expect(results.filter(([, ok]) => ok).map(([what]) => what)).toEqual([]);
  });

  it('is refused for real when it reads a Secret (impersonated request → 403)', async () => {
    const core = impersonating(admin, ns, sa).makeApiClient(k8s.CoreV1Api);
    const err = await core.readNamespacedSecret({ name: `${fullname}-connections`, namespace: ns }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(k8s.ApiException);
    expect((err as k8s.ApiException<unknown>).code).toBe(403);
  });

  describe('the controller, in-process, as the chart ServiceAccount', () => {
    let redis: RedisServer;
    let client: Redis;
    let elector: LeaderElector | undefined;
    let controller: Controller | undefined;
    let electing: Promise<void> | undefined;
    const logger = createLogger('controller', 'silent');

    beforeAll(async () => {
      // A private Redis: the registry's vendor names are global, other suites may use them too.
      redis = await startRedis();
      client = new Redis(redis.url, { maxRetriesPerRequest: 2 });
    });
    afterAll(async () => {
      await controller?.stop();
      await elector?.stop();
      await electing;
      client?.disconnect();
      await redis?.stop();
    });

    it('wins the Lease, reconciles the example VendorPools and finalizes a deleted one', async () => {
      const asSa = impersonating(admin, ns, sa);
      const kube = createKubeClient(asSa);
      const identity = `in-process-${process.pid}`;
      const metrics = createControllerMetrics();
      const started = new Promise<void>((resolve) => {
        elector = createLeaderElector({
          kube,
          namespace: ns,
          name: leaseName,
          identity,
          logger,
          leaseDurationMs: 15_000,
          renewDeadlineMs: 10_000,
          retryPeriodMs: 1_000,
          onStartedLeading: () => {
            controller = createController({
              kc: asSa,
              kube,
              registry: new VendorRegistry(client),
              redis: client,
              metrics,
              logger,
              lagPollMs: 500,
              namespace: ns,
              retryBaseMs: 100,
              retryMaxMs: 2_000,
              // What the chart's controller Deployment passes (VF_WORKER_* env).
              deployment: {
                defaultImage: 'ghcr.io/vendorfetch/vendorfetch:0.1.0',
                redisUrl: { secretKeyRef: { name: `${fullname}-connections`, key: 'redis-url' } },
                mongodbUrl: { secretKeyRef: { name: `${fullname}-connections`, key: 'mongodb-url' } },
                webhookBaseUrl: `http://${fullname}-api.${ns}.svc:8080`,
              },
            });
            void controller.start().then(resolve);
          },
          onStoppedLeading: () => {},
        });
        electing = elector.run();
      });
      await eventually('the controller to lead and sync its caches', async () => ((await Promise.race([started.then(() => true), new Promise((r) => setTimeout(r, 100))])) ? true : undefined));

      const coordination = admin.makeApiClient(k8s.CoordinationV1Api);
      expect((await coordination.readNamespacedLease({ name: leaseName, namespace: ns })).spec?.holderIdentity).toBe(identity);

      const { pools } = await examplePools();
      expect(await applyAll(admin, intoNamespace(pools, ns), { dryRun: false })).toEqual([]);

      const custom = admin.makeApiClient(k8s.CustomObjectsApi);
      const apps = admin.makeApiClient(k8s.AppsV1Api);
      type Pool = { metadata: { generation: number; finalizers?: string[]; uid: string }; status?: { observedGeneration?: number; conditions?: { type: string; status: string; reason: string; observedGeneration?: number }[] } };
      const readPool = (name: string) => custom.getNamespacedCustomObject({ group: 'vendorfetch.io', version: 'v1alpha1', namespace: ns, plural: 'vendorpools', name }) as Promise<Pool>;

      for (const p of pools) {
        const name = p.metadata!.name!;
        // Worker Deployment created by server-side apply (patch only), owned by the pool.
        const d = await eventually(`Deployment ${name}-workers`, () => apps.readNamespacedDeployment({ name: `${name}-workers`, namespace: ns }));
        const current = await readPool(name);
        expect(d.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'VendorPool', name, uid: current.metadata.uid, controller: true, blockOwnerDeletion: true })]);
        expect(current.metadata.finalizers).toContain(FINALIZER);

        // Status written through the status subresource, with observedGeneration.
        const status = await eventually(`status of ${name}`, async () => {
          const s = (await readPool(name)).status;
          return s?.observedGeneration === current.metadata.generation && s.conditions?.some((c) => c.type === 'Ready') ? s : undefined;
        });
        expect(status.conditions?.find((c) => c.type === 'Conflict')?.status).toBe('False');
        // No kube-controller-manager here: no pods, so the workers are not ready yet.
        expect(status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'WorkersNotReady' });

        // Play kube-controller-manager: report the Deployment rolled out and ready.
        const replicas = d.spec?.replicas ?? 1;
        await apps.patchNamespacedDeploymentStatus(
          {
            name: `${name}-workers`,
            namespace: ns,
            body: { status: { observedGeneration: d.metadata?.generation, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas } },
          },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
        await eventually(`${name} Ready=True`, async () => {
          const ready = (await readPool(name)).status?.conditions?.find((c) => c.type === 'Ready');
          return ready?.status === 'True' ? ready : undefined;
        });
      }

      // Deleting a pool: the controller removes its finalizer (patch) and the pool goes away.
      const gone = pools[0]!.metadata!.name!;
      await custom.deleteNamespacedCustomObject({ group: 'vendorfetch.io', version: 'v1alpha1', namespace: ns, plural: 'vendorpools', name: gone });
      await eventually(`${gone} to be finalized and deleted`, async () => {
        const err = await readPool(gone).then(() => undefined, (e: unknown) => e);
        return err instanceof k8s.ApiException && err.code === 404 ? true : undefined;
      });
      expect((await metrics.reconcileErrors.get()).values[0]?.value ?? 0).toBe(0);
    });
  });
});
