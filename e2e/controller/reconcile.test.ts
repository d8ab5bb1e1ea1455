// The controller against the real kube-apiserver and a real Redis: Deployment + owner
// reference, status conditions, printer columns, quota edits without rollout, lag scaling with
// clamp and stabilisation, cross-pool conflicts, and the finalizer. The controller runs in this
// process (the leader-election suite runs it as separate processes).
import type { V1Deployment } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { FINALIZER, paths } from '../../controller/api-types.js';
import { findCondition } from '../../controller/conditions.js';
import { createController, type Controller } from '../../controller/controller.js';
import { deploymentName } from '../../controller/deployment.js';
import { CONTENT, isKubeError } from '../../controller/kube.js';
import { createControllerMetrics } from '../../controller/metrics.js';
import { keys } from '../../core/keys.js';
import { VendorRegistry } from '../../core/registry.js';
import { startRedis } from '../../testing/redis-server.js';
import { useRedisServer } from '../../testing/use-redis-server.js';
import { createNamespace, createPool, deleteNamespace, deletePools, describeWithKube, getPool, testControllerOptions, until, vendor } from './support.js';

const { describe: d, env } = await describeWithKube();
const redisServer = useRedisServer();

d('controller reconcile (real kube-apiserver)', () => {
  let ns = '';
  let registry: VendorRegistry;
  let controller: Controller;
  const metrics = createControllerMetrics();

  beforeAll(async () => {
    ns = await createNamespace(env!.kube, 'vf-reconcile');
    registry = new VendorRegistry(redisServer.redis);
    controller = createController(
      testControllerOptions(env!, redisServer.redis, ns, {
        registry,
        metrics,
        deployment: { defaultImage: 'vendorfetch:test', redisUrl: { secretKeyRef: { name: 'redis', key: 'url' } }, mongodbUrl: { value: 'mongodb://m:27017/vf' } },
      }),
    );
    await controller.start();
  });

  afterAll(async () => {
    await deletePools(env!.kube, ns); // while the controller still runs to remove their finalizers
    await controller.stop();
    await deleteNamespace(env!.kube, ns);
  });

  const getDeployment = (name: string) => env!.kube.request<V1Deployment>({ method: 'GET', path: paths.deployment(ns, deploymentName(name)) });

  test('apply → Deployment with spec and owner reference; finalizer; status with conditions and observedGeneration; printer columns', async () => {
    const created = await createPool(env!.kube, ns, 'partners', {
      vendors: [vendor('acme', { quota: { requestsPerSecond: 50, burst: 10 } }), vendor('globex')],
      workers: { minReplicas: 2, maxReplicas: 4, concurrency: 7 },
    });
    const dep = await until('the worker Deployment', () => getDeployment('partners'));
    expect(dep.metadata?.ownerReferences).toEqual([
      { apiVersion: 'vendorfetch.io/v1alpha1', kind: 'VendorPool', name: 'partners', uid: created.metadata.uid, controller: true, blockOwnerDeletion: true },
    ]);
    expect(dep.spec?.replicas).toBe(2);
    const c = dep.spec!.template.spec!.containers[0]!;
    expect(c.image).toBe('vendorfetch:test');
    const envs = Object.fromEntries(c.env!.map((e) => [e.name, e]));
    expect(envs.VF_POOL?.value).toBe(`${ns}/partners`);
    expect(envs.VF_CONCURRENCY?.value).toBe('7');
    expect(envs.REDIS_URL?.valueFrom?.secretKeyRef).toEqual({ name: 'redis', key: 'url' });
    expect(envs.MONGODB_URL?.value).toBe('mongodb://m:27017/vf');
    expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(c.readinessProbe?.httpGet?.path).toBe('/healthz');
    // Server-side apply with our field manager owns the fields.
    expect(dep.metadata?.managedFields?.some((m) => m.manager === 'vendorfetch-controller' && m.operation === 'Apply')).toBe(true);

    const pool = await until('status written', async () => {
      const p = await getPool(env!.kube, ns, 'partners');
      return p.status?.observedGeneration === p.metadata.generation && p.status?.conditions?.length === 4 ? p : undefined;
    });
    expect(pool.metadata.finalizers).toContain(FINALIZER);
    for (const type of ['Ready', 'Progressing', 'Degraded', 'Conflict']) {
      const cond = findCondition(pool.status?.conditions, type);
      expect(cond?.observedGeneration).toBe(pool.metadata.generation);
      expect(cond?.lastTransitionTime).toBeTruthy();
    }
    expect(findCondition(pool.status?.conditions, 'Conflict')?.status).toBe('False');
    expect(findCondition(pool.status?.conditions, 'Degraded')?.status).toBe('False');
    // No kube-controller-manager here: no pods ever become ready, and the status says so.
    expect(findCondition(pool.status?.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'WorkersNotReady' });
    expect(pool.status).toMatchObject({ replicas: 2, readyReplicas: 0, lag: 0, vendorNames: 'acme,globex' });
    expect(pool.status?.vendors?.map((v) => v.name)).toEqual(['acme', 'globex']);

    const reg = await registry.all();
    expect(reg.get('acme')).toMatchObject({ pool: `${ns}/partners`, spec: { quota: { requestsPerSecond: 50, burst: 10 } } });

    // `kubectl get vp`: the Table view with the printer columns.
    const table = await env!.kube.request<{ columnDefinitions: Array<{ name: string }>; rows: Array<{ cells: unknown[] }> }>({
      method: 'GET',
      path: paths.pools(ns),
      accept: CONTENT.table,
    });
    // READY is the Ready condition; the ready-replica count has a column of its own; Scaling
    // shows with -o wide (priority 1).
    expect(table.columnDefinitions.map((col) => col.name)).toEqual(['Name', 'Vendors', 'Ready', 'Replicas', 'Ready-Replicas', 'Lag', 'Scaling', 'Age']);
    const row = table.rows.find((r) => r.cells[0] === 'partners');
    expect(row?.cells.slice(0, 7)).toEqual(['partners', 'acme,globex', 'False', 2, 0, 0, 'builtin']);
    // The short name is registered.
    const resources = await env!.kube.request<{ resources: Array<{ name: string; shortNames?: string[] }> }>({ method: 'GET', path: '/apis/vendorfetch.io/v1alpha1' });
    expect(resources.resources.find((r) => r.name === 'vendorpools')?.shortNames).toEqual(['vp']);
  });

  test('a quota edit reaches the registry; the pod template does not change (no rollout)', async () => {
    await createPool(env!.kube, ns, 'quota', { vendors: [vendor('initech', { quota: { requestsPerSecond: 20 } })] });
    const before = await until('Deployment', () => getDeployment('quota'));
    await until('registry entry', async () => (await registry.get('initech'))?.spec.quota.requestsPerSecond === 20);
    await env!.kube.request({
      method: 'PATCH',
      path: paths.pool(ns, 'quota'),
      contentType: CONTENT.jsonPatch,
      body: [{ op: 'replace', path: '/spec/vendors/0/quota', value: { requestsPerSecond: 35, burst: 7 } }],
    });
    const entry = await until('the new quota in the registry', async () => {
      const e = await registry.get('initech');
      return e?.spec.quota.requestsPerSecond === 35 ? e : undefined;
    });
    expect(entry.spec.quota.burst).toBe(7);
    await until('observedGeneration 2', async () => (await getPool(env!.kube, ns, 'quota')).status?.observedGeneration === 2);
    const after = await getDeployment('quota');
    expect(after.spec?.template).toEqual(before.spec?.template);
    expect(after.metadata?.generation).toBe(before.metadata?.generation);
  });

  test('synthetic lag: replicas = clamp(ceil(lag / target)) at once up, down only after the stabilisation window', async () => {
    await createPool(env!.kube, ns, 'laggy', {
      vendors: [vendor('lagger')],
      workers: { minReplicas: 1, maxReplicas: 3, targetLagPerReplica: 10, scaleDownStabilizationSeconds: 3 },
    });
    const replicas = async () => (await getDeployment('laggy')).spec?.replicas;
    await until('1 replica at no lag', async () => (await replicas()) === 1);
    const add = async (n: number) => {
      const p = redisServer.redis.pipeline();
      for (let i = 0; i < n; i++) p.xadd(keys.stream('lagger', 'normal'), '*', 'id', String(i));
      await p.exec();
    };
    await add(15); // ceil(15/10) = 2
    await until('2 replicas for lag 15', async () => (await replicas()) === 2, 5000);
    await add(100); // ceil(115/10) = 12 → clamped to 3
    await until('clamped to 3', async () => (await replicas()) === 3, 5000);
    const pool = await until('lag in status', async () => {
      const p = await getPool(env!.kube, ns, 'laggy');
      return p.status?.lag === 115 ? p : undefined;
    });
    expect(pool.status?.vendors).toEqual([{ name: 'lagger', lag: 115, pending: 0, circuit: 'unknown', paused: false }]);

    await redisServer.redis.del(keys.stream('lagger', 'normal'));
    const dropped = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    expect(await replicas()).toBe(3); // held by the 3 s window
    await until('back to min 1 after the window', async () => (await replicas()) === 1, 6000);
    expect(Date.now() - dropped).toBeGreaterThanOrEqual(2900);
  });

  test('the same vendor name in two pools: the later pool gets Conflict, the earlier keeps working', async () => {
    await createPool(env!.kube, ns, 'first', { vendors: [vendor('shared'), vendor('only-first')] });
    await until('first owns shared', async () => (await registry.get('shared'))?.pool === `${ns}/first`);
    await new Promise((r) => setTimeout(r, 1100)); // creationTimestamp has 1 s resolution
    await createPool(env!.kube, ns, 'second', { vendors: [vendor('shared', { url: 'http://127.0.0.1:1/other' }), vendor('only-second')] });
    const second = await until('Conflict on the later pool', async () => {
      const p = await getPool(env!.kube, ns, 'second');
      return findCondition(p.status?.conditions, 'Conflict')?.status === 'True' ? p : undefined;
    });
    expect(findCondition(second.status?.conditions, 'Conflict')?.message).toContain(`shared (owned by ${ns}/first)`);
    expect(findCondition(second.status?.conditions, 'Ready')?.reason).toBe('VendorConflict');
    // Several passes later, nothing flipped.
    await new Promise((r) => setTimeout(r, 1000));
    const first = await getPool(env!.kube, ns, 'first');
    expect(findCondition(first.status?.conditions, 'Conflict')?.status).toBe('False');
    const shared = await registry.get('shared');
    expect(shared?.pool).toBe(`${ns}/first`);
    expect(shared?.spec.url).toBe('http://127.0.0.1:9101/shared');
    expect((await registry.get('only-second'))?.pool).toBe(`${ns}/second`);
  });

  test('delete → the finalizer clears the pool’s vendors from the registry and is removed', async () => {
    await createPool(env!.kube, ns, 'doomed', { vendors: [vendor('gone-a'), vendor('gone-b')] });
    await until('registered', async () => (await registry.get('gone-b'))?.pool === `${ns}/doomed`);
    await until('finalizer set', async () => (await getPool(env!.kube, ns, 'doomed')).metadata.finalizers?.includes(FINALIZER));
    await env!.kube.request({ method: 'DELETE', path: paths.pool(ns, 'doomed') });
    await until('pool gone', async () => {
      try {
        await getPool(env!.kube, ns, 'doomed');
        return false;
      } catch (err) {
        return isKubeError(err, 404);
      }
    });
    const reg = await registry.all();
    expect(reg.has('gone-a') || reg.has('gone-b')).toBe(false);
    expect(reg.get('acme')?.pool).toBe(`${ns}/partners`); // other pools untouched
  });

  test('metrics count reconciles', async () => {
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/vendorfetch_controller_reconcile_total\{result="ok"\} [1-9]/);
    expect(text).toContain('vendorfetch_controller_reconcile_duration_seconds_bucket');
  });
});

d('controller when Redis goes away (real kube-apiserver)', () => {
  test('Degraded/RegistryUnavailable while Redis is down, with no replicas, lag or vendors left over from before; the registry comes back by itself', async () => {
    const ns = await createNamespace(env!.kube, 'vf-redisdown');
    let server = await startRedis();
    const port = server.port;
    const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    const registry = new VendorRegistry(redis);
    const controller = createController(
      testControllerOptions(env!, redis, ns, {
        registry,
        retryMaxMs: 500,
        deployment: { defaultImage: 'vendorfetch:test', redisUrl: { value: server.url }, mongodbUrl: { value: 'mongodb://m:27017/vf' } },
      }),
    );
    const degraded = async () => findCondition((await getPool(env!.kube, ns, 'fragile')).status?.conditions, 'Degraded');
    try {
      await controller.start();
      await createPool(env!.kube, ns, 'fragile', { vendors: [vendor('fragile-vendor')] });
      await until('healthy', async () => (await degraded())?.status === 'False');
      expect((await getPool(env!.kube, ns, 'fragile')).status).toMatchObject({ replicas: 1, lag: 0, vendors: [{ name: 'fragile-vendor' }] });

      await server.stop();
      const down = await until('Degraded while Redis is down', async () => {
        const c = await degraded();
        return c?.status === 'True' ? c : undefined;
      });
      expect(down.reason).toBe('RegistryUnavailable');
      // Only what this pass could observe: the spec's vendor names, not the last lag or replicas.
      const during = (await getPool(env!.kube, ns, 'fragile')).status;
      expect(during).toMatchObject({ vendorNames: 'fragile-vendor' });
      expect(during).not.toHaveProperty('replicas');
      expect(during).not.toHaveProperty('readyReplicas');
      expect(during).not.toHaveProperty('lag');
      expect(during).not.toHaveProperty('vendors');

      // A fresh, empty Redis on the same address (as after a restart without persistence).
      const { spawn } = await import('node:child_process');
      const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      server = { ...server, process: child, stop: async () => void (child.kill('SIGTERM'), await exited) };
      await until('registry re-published', async () => (await registry.get('fragile-vendor'))?.pool === `${ns}/fragile`, 15_000);
      await until('healthy again', async () => (await degraded())?.status === 'False', 15_000);
      expect((await getPool(env!.kube, ns, 'fragile')).status).toMatchObject({ replicas: 1, lag: 0, vendors: [{ name: 'fragile-vendor' }] });

      await env!.kube.request({ method: 'DELETE', path: paths.pool(ns, 'fragile') });
      await until('pool gone', async () => {
        try {
          await getPool(env!.kube, ns, 'fragile');
          return false;
        } catch (err) {
          return isKubeError(err, 404);
        }
      });
    } finally {
      await controller.stop();
      redis.disconnect();
      await server.stop();
      await deleteNamespace(env!.kube, ns);
    }
  });
});
