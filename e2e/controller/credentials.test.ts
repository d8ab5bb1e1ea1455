// Credentials that rotate, on the real kube-apiserver: the controller runs with a kubeconfig
// whose `token-file` holds a service-account token bound to a Secret (TokenRequest with
// boundObjectRef). The file is rewritten with a new token bound to another Secret, and the first
// Secret is deleted, so the old token is refused from then on (as when the kubelet rotates a
// projected token, or an exec/cloud token expires). The controller keeps its Lease and keeps
// reconciling; a client that read the credentials once (client-node alone) gets 401.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { paths } from '../../controller/api-types.js';
import { createController } from '../../controller/controller.js';
import { loadRotatingKubeConfigFromFile } from '../../controller/credentials.js';
import { deploymentName } from '../../controller/deployment.js';
import { CONTENT, createKubeClient, isKubeError } from '../../controller/kube.js';
import { createLeaderElector } from '../../controller/leader.js';
import { createControllerMetrics } from '../../controller/metrics.js';
import { VendorRegistry } from '../../core/registry.js';
import { startRedis } from '../../testing/redis-server.js';
import { createNamespace, createPool, deleteNamespace, describeWithKube, until, vendor } from './support.js';

const { describe: d, env } = await describeWithKube();

d('rotating credentials (bound service-account tokens, real kube-apiserver)', () => {
  let ns = '';
  let dir = '';
  beforeAll(async () => {
    ns = await createNamespace(env!.kube, 'vf-creds');
    dir = mkdtempSync(path.join(os.tmpdir(), 'vf-creds-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await deleteNamespace(env!.kube, ns);
  });

  const admin = () => env!.kube;
  async function boundToken(secret: string): Promise<string> {
    const s = await admin().request<{ metadata: { uid: string } }>({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/secrets`,
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: secret }, stringData: { x: 'y' } },
    });
    const tr = await admin().request<{ status: { token: string } }>({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/serviceaccounts/rotating/token`,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Secret', name: secret, uid: s.metadata.uid } },
      },
    });
    return tr.status.token;
  }

  test('token file rotated and the old token invalidated: the controller keeps leading and reconciling', async () => {
    // A ServiceAccount with every right in this namespace only (the RBAC suites test least privilege).
    await admin().request({ method: 'POST', path: `/api/v1/namespaces/${ns}/serviceaccounts`, body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'rotating' } } });
    await admin().request({
      method: 'POST',
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'rotating-admin' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name: 'rotating', namespace: ns }],
      },
    });
    const tokenFile = path.join(dir, 'token');
    writeFileSync(tokenFile, await boundToken('bound-a'));
    const cluster = env!.kc.getCurrentCluster()!;
    const kubeconfig = path.join(dir, 'kubeconfig');
    const exported = new KubeConfig();
    exported.loadFromOptions({ clusters: [{ ...cluster, name: 'test' }], users: [{ name: 'rotating' }], contexts: [{ name: 'c', cluster: 'test', user: 'rotating' }], currentContext: 'c' });
    // The standard kubeconfig field: `token-file` (client-go re-reads it; client-node reads it once).
    const doc = JSON.parse(exported.exportConfig()) as { users: Array<{ name: string; user: Record<string, unknown> }> };
    doc.users = [{ name: 'rotating', user: { 'token-file': tokenFile } }];
    writeFileSync(kubeconfig, JSON.stringify(doc));

    const credentials = loadRotatingKubeConfigFromFile(kubeconfig);
    const kube = createKubeClient(credentials);
    const readOnce = new KubeConfig();
    readOnce.loadFromFile(kubeconfig);
    const staleClient = createKubeClient(readOnce);
    // Works before the rotation (retried: a fresh API server may answer 429 while its CRD storage starts).
    await until('the first token to work', () => staleClient.request({ method: 'GET', path: paths.pools(ns) }));

    const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
    let leading = false;
    let lost = false;
    const elector = createLeaderElector({
      kube,
      namespace: ns,
      name: 'rotating-lease',
      identity: 'rotating-controller',
      logger,
      leaseDurationMs: 4000,
      renewDeadlineMs: 3000,
      retryPeriodMs: 500,
      onStartedLeading: () => (leading = true),
      onStoppedLeading: () => ((leading = false), (lost = true)),
    });
    const electing = elector.run();
    const redisServer = await startRedis();
    const redis = new Redis(redisServer.url);
    const controller = createController({
      kc: credentials.kc,
      kube,
      registry: new VendorRegistry(redis),
      redis,
      metrics: createControllerMetrics(),
      logger,
      namespace: ns,
      lagPollMs: 300,
      retryBaseMs: 100,
      retryMaxMs: 1000,
      deployment: { defaultImage: 'vendorfetch:test', redisUrl: { value: 'redis://r:6379' }, mongodbUrl: { value: 'mongodb://m:27017/vf' } },
    });
    const concurrency = async () =>
      (await admin().request<V1Deployment>({ method: 'GET', path: paths.deployment(ns, deploymentName('rotating')) })).spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'VF_CONCURRENCY')?.value;
    try {
      await until('leading with the first token', () => leading, 5000);
      await controller.start();
      await createPool(admin(), ns, 'rotating', { vendors: [vendor('rotating-vendor')], workers: { concurrency: 5 } });
      await until('reconciled with the first token', async () => (await concurrency()) === '5');

      // Rotate: a new token in the file, then the old one invalidated by deleting its object.
      writeFileSync(tokenFile, await boundToken('bound-b'));
      await admin().request({ method: 'DELETE', path: `/api/v1/namespaces/${ns}/secrets/bound-a` });
      await until('the old token to be refused', async () => {
        try {
          await staleClient.request({ method: 'GET', path: paths.pools(ns) });
          return false;
        } catch (err) {
          return isKubeError(err, 401);
        }
      });
      const rotatedAt = Date.now();

      // Reconciling goes on: a spec edit reaches the Deployment (apply + status writes with the new token).
      await admin().request({ method: 'PATCH', path: paths.pool(ns, 'rotating'), body: { spec: { workers: { concurrency: 9 } } }, contentType: CONTENT.merge });
      await until('reconciled with the rotated token', async () => (await concurrency()) === '9', 10_000);
      // Leading goes on: longer than a lease duration later, still the holder, renewing.
      const lease = () => admin().request<{ spec: { holderIdentity?: string; renewTime?: string } }>({ method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/rotating-lease` });
      await new Promise((r) => setTimeout(r, 4000 + 1000));
      const held = await lease();
      expect(held.spec.holderIdentity).toBe('rotating-controller');
      expect(Date.parse(held.spec.renewTime ?? '')).toBeGreaterThan(rotatedAt + 3000);
      expect({ leading, lost }).toEqual({ leading: true, lost: false });
    } finally {
      await controller.stop();
      await elector.stop();
      await electing;
      redis.disconnect();
      await redisServer.stop();
    }
  });
});
