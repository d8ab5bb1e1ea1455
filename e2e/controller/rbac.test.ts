// The RBAC in manifests/controller-rbac.yaml is enough — and only just: the controller runs
// with a real service-account token bound to exactly those rules (TokenRequest API), reconciles
// a pool, elects itself leader, removes its finalizer; and the token is refused what it was
// not granted (secrets, deleting Deployments).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { parseAllDocuments } from 'yaml';
import { paths } from '../../controller/api-types.js';
import { findCondition } from '../../controller/conditions.js';
import { createController } from '../../controller/controller.js';
import { deploymentName } from '../../controller/deployment.js';
import { announceLeader } from '../../controller/events.js';
import { createKubeClient, isKubeError, type KubeClient } from '../../controller/kube.js';
import { createLeaderElector } from '../../controller/leader.js';
import { createControllerMetrics } from '../../controller/metrics.js';
import { VendorRegistry } from '../../core/registry.js';
import { startRedis } from '../../testing/redis-server.js';
import { createNamespace, createPool, deleteNamespace, describeWithKube, getPool, REPO_ROOT, suffix, until, vendor } from './support.js';

const { describe: d, env } = await describeWithKube();

const pathFor = (o: { apiVersion: string; kind: string; metadata: { namespace?: string } }): string => {
  const ns = o.metadata.namespace;
  switch (o.kind) {
    case 'ServiceAccount':
      return `/api/v1/namespaces/${ns}/serviceaccounts`;
    case 'ClusterRole':
      return '/apis/rbac.authorization.k8s.io/v1/clusterroles';
    case 'ClusterRoleBinding':
      return '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings';
    case 'Role':
      return `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`;
    case 'RoleBinding':
      return `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`;
    default:
      throw new Error(`unexpected kind ${o.kind}`);
  }
};

d('controller with only the RBAC of manifests/controller-rbac.yaml', () => {
  let ns = '';
  const tag = suffix();
  const created: string[] = [];

  beforeAll(async () => {
    ns = await createNamespace(env!.kube, 'vf-rbac');
  });
  afterAll(async () => {
    for (const p of created.reverse()) await env!.kube.request({ method: 'DELETE', path: p }).catch(() => {});
    await deleteNamespace(env!.kube, ns);
  });

  test('reconciles, leads and finalizes with its own token; is refused the rest', async () => {
    // Install the manifests into this namespace (cluster-scoped names get a suffix).
    const text = readFileSync(path.join(REPO_ROOT, 'manifests', 'controller-rbac.yaml'), 'utf8').replaceAll('namespace: vendorfetch', `namespace: ${ns}`);
    for (const doc of parseAllDocuments(text)) {
      const o = doc.toJS() as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; roleRef?: { kind: string; name: string } };
      if (o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding') o.metadata.name = `${o.metadata.name}-${tag}`;
      if (o.roleRef?.kind === 'ClusterRole') o.roleRef.name = `${o.roleRef.name}-${tag}`;
      await env!.kube.request({ method: 'POST', path: pathFor(o), body: o });
      created.push(`${pathFor(o)}/${o.metadata.name}`);
    }
    const tr = await env!.kube.request<{ status: { token: string } }>({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/serviceaccounts/vendorfetch-controller/token`,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    });
    const cluster = env!.kc.getCurrentCluster()!;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ ...cluster, name: 'test' }],
      users: [{ name: 'controller', token: tr.status.token }],
      contexts: [{ name: 'controller', cluster: 'test', user: 'controller' }],
      currentContext: 'controller',
    });
    const kube: KubeClient = createKubeClient(kc);

    // Refused: what the ClusterRole does not grant.
    const refused = async (p: Promise<unknown>) => {
      try {
        await p;
        return false;
      } catch (err) {
        return isKubeError(err, 403);
      }
    };
    expect(await refused(kube.request({ method: 'GET', path: `/api/v1/namespaces/${ns}/secrets` }))).toBe(true);
    expect(await refused(kube.request({ method: 'DELETE', path: paths.deployment(ns, 'anything') }))).toBe(true);
    expect(await refused(kube.request({ method: 'GET', path: '/apis/coordination.k8s.io/v1/namespaces/default/leases' }))).toBe(true);

    const logger = pino({ level: 'silent' });
    // Leader election in its own namespace works with these rules.
    let leading = false;
    const elector = createLeaderElector({
      kube,
      namespace: ns,
      name: 'vendorfetch-controller',
      identity: 'rbac-test',
      logger,
      leaseDurationMs: 4000,
      renewDeadlineMs: 3000,
      retryPeriodMs: 500,
      onStartedLeading: () => (leading = true),
      onStoppedLeading: () => (leading = false),
    });
    void elector.run();
    await until('leader with the service-account token', () => leading, 5000);
    // ... and may say so in events.k8s.io/v1 Events (on the Lease; no pools yet).
    expect(await announceLeader(kube, { identity: 'rbac-test', lease: { namespace: ns, name: 'vendorfetch-controller' }, namespace: ns })).toEqual([]);

    const redisServer = await startRedis();
    const redis = new Redis(redisServer.url);
    const registry = new VendorRegistry(redis);
    const controller = createController({
      kc,
      kube,
      registry,
      redis,
      metrics: createControllerMetrics(),
      logger,
      namespace: ns,
      lagPollMs: 500,
      deployment: { defaultImage: 'vendorfetch:test', redisUrl: { value: 'redis://r:6379' }, mongodbUrl: { value: 'mongodb://m:27017/vf' } },
    });
    try {
      await controller.start();
      await createPool(env!.kube, ns, 'guarded', { vendors: [vendor('rbac-vendor')] });
      await until('Deployment applied by the service account', () => env!.kube.request({ method: 'GET', path: paths.deployment(ns, deploymentName('guarded')) }));
      const pool = await until('status written by the service account', async () => {
        const p = await getPool(env!.kube, ns, 'guarded');
        return findCondition(p.status?.conditions, 'Degraded')?.status === 'False' ? p : undefined;
      });
      expect(pool.metadata.finalizers).toContain('vendorfetch.io/registry');
      await env!.kube.request({ method: 'DELETE', path: paths.pool(ns, 'guarded') });
      await until('finalizer removed by the service account', async () => {
        try {
          await getPool(env!.kube, ns, 'guarded');
          return false;
        } catch (err) {
          return isKubeError(err, 404);
        }
      });
      expect(await registry.get('rbac-vendor')).toBeNull();
    } finally {
      await controller.stop();
      await elector.stop();
      redis.disconnect();
      await redisServer.stop();
    }
    expect(leading).toBe(false);
  });
});
