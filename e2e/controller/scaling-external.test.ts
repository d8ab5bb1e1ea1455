// spec.workers.scaling: external against the real kube-apiserver — the controller applies the
// worker Deployment without replicas, so what an HPA or KEDA writes through the scale
// subresource stays, across lag changes and spec edits; switching from builtin hands the
// current count over without a drop to 1; switching back makes the controller scale again.
// Also the READY printer column: the Ready condition, not a number.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { V1Deployment } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { FIELD_MANAGER, paths, vendorPoolSchema } from '../../controller/api-types.js';
import { findCondition } from '../../controller/conditions.js';
import { createController, type Controller } from '../../controller/controller.js';
import { deploymentName } from '../../controller/deployment.js';
import { CONTENT } from '../../controller/kube.js';
import { HANDOVER_MANAGER } from '../../controller/reconcile.js';
import { keys } from '../../core/keys.js';
import { useRedisServer } from '../../testing/use-redis-server.js';
import { createNamespace, createPool, deleteNamespace, deletePools, describeWithKube, getPool, REPO_ROOT, testControllerOptions, until, vendor } from './support.js';

const { describe: d, env } = await describeWithKube();
const redisServer = useRedisServer();

d('external scaling (real kube-apiserver)', () => {
  let ns = '';
  let controller: Controller;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    ns = await createNamespace(env!.kube, 'vf-external');
    controller = createController(
      testControllerOptions(env!, redisServer.redis, ns, {
        lagPollMs: 200,
        deployment: { defaultImage: 'vendorfetch:test', redisUrl: { value: redisServer.url }, mongodbUrl: { value: 'mongodb://m:27017/vf' } },
      }),
    );
    await controller.start();
  });

  afterAll(async () => {
    await deletePools(env!.kube, ns);
    await controller.stop();
    await deleteNamespace(env!.kube, ns);
  });

  const deployment = (pool: string) => env!.kube.request<V1Deployment>({ method: 'GET', path: paths.deployment(ns, deploymentName(pool)) });
  const replicas = async (pool: string) => (await deployment(pool)).spec?.replicas;
  /** Which managers own spec.replicas. */
  const replicaOwners = async (pool: string) =>
    ((await deployment(pool)).metadata?.managedFields ?? []).filter((m) => JSON.stringify(m.fieldsV1 ?? {}).includes('"f:replicas"')).map((m) => m.manager);
  /** What an HPA does: an update of the scale subresource under its own field manager. */
  const autoscale = (pool: string, n: number) =>
    env!.kube.request({
      method: 'PATCH',
      path: `${paths.deployment(ns, deploymentName(pool))}/scale`,
      query: { fieldManager: 'test-autoscaler' },
      body: { spec: { replicas: n } },
      contentType: CONTENT.merge,
    });
  const addLag = async (vendorName: string, n: number) => {
    const p = redisServer.redis.pipeline();
    for (let i = 0; i < n; i++) p.xadd(keys.stream(vendorName, 'normal'), '*', 'id', String(i));
    await p.exec();
  };
  const setScaling = (pool: string, scaling: string) =>
    env!.kube.request({ method: 'PATCH', path: paths.pool(ns, pool), body: { spec: { workers: { scaling } } }, contentType: CONTENT.merge });
  const observed = (pool: string, generation: number) =>
    until(`${pool} observedGeneration ${generation}`, async () => (await getPool(env!.kube, ns, pool)).status?.observedGeneration === generation);

  test('the controller leaves an externally set replica count alone across reconciles', async () => {
    await createPool(env!.kube, ns, 'ext', { vendors: [vendor('ext-v')], workers: { minReplicas: 1, maxReplicas: 3, targetLagPerReplica: 10, scaling: 'external' } });
    await until('the worker Deployment', () => deployment('ext'));
    expect(await replicaOwners('ext')).toEqual([]); // applied without replicas: defaulted, owned by nobody

    await autoscale('ext', 5); // above maxReplicas: the built-in rule would never allow it
    await addLag('ext-v', 200); // the built-in rule would want 3
    // A spec edit that changes the pod template: a full apply of the Deployment.
    await env!.kube.request({ method: 'PATCH', path: paths.pool(ns, 'ext'), body: { spec: { workers: { concurrency: 9 } } }, contentType: CONTENT.merge });
    await observed('ext', 2);
    await until('the edit applied', async () => (await deployment('ext')).spec?.template.spec?.containers[0]?.env?.some((e) => e.name === 'VF_CONCURRENCY' && e.value === '9'));
    await sleep(1500); // several lag polls
    expect(await replicas('ext')).toBe(5);
    // Not ours (the API server records no owner for a scale update of a field nobody owned).
    expect(await replicaOwners('ext')).not.toContain(FIELD_MANAGER);
    const pool = await until('status reports the autoscaler’s count', async () => {
      const p = await getPool(env!.kube, ns, 'ext');
      return p.status?.replicas === 5 && p.status.lag === 200 ? p : undefined;
    });
    expect(pool.spec).toMatchObject({ workers: { scaling: 'external' } });
  });

  test('builtin → external keeps the current count (no drop to 1); back to builtin, the controller scales again', async () => {
    await createPool(env!.kube, ns, 'handover', { vendors: [vendor('handover-v')], workers: { minReplicas: 3, maxReplicas: 4 } });
    await until('3 replicas from the built-in rule', async () => (await replicas('handover')) === 3);
    expect(await replicaOwners('handover')).toEqual([FIELD_MANAGER]);

    await setScaling('handover', 'external');
    await observed('handover', 2);
    await sleep(1000);
    expect(await replicas('handover')).toBe(3);
    expect(await replicaOwners('handover')).toEqual([HANDOVER_MANAGER]);

    await autoscale('handover', 2); // below minReplicas: only an external scaler may do this
    await sleep(1000);
    expect(await replicas('handover')).toBe(2);
    expect(await replicaOwners('handover')).toEqual(['test-autoscaler']);

    await setScaling('handover', 'builtin');
    await until('the controller takes replicas back (min 3)', async () => (await replicas('handover')) === 3);
    expect(await replicaOwners('handover')).toContain(FIELD_MANAGER);
  });

  test('READY shows the Ready condition; the ready-replica count is READY-REPLICAS', async () => {
    // No kube-controller-manager here: play its part and report every worker ready.
    const dep = await deployment('ext');
    await env!.kube.request({
      method: 'PATCH',
      path: `${paths.deployment(ns, deploymentName('ext'))}/status`,
      body: { status: { observedGeneration: dep.metadata?.generation, replicas: 5, updatedReplicas: 5, readyReplicas: 5, availableReplicas: 5 } },
      contentType: CONTENT.merge,
    });
    await until('Ready=True', async () => findCondition((await getPool(env!.kube, ns, 'ext')).status?.conditions, 'Ready')?.status === 'True');
    const table = await env!.kube.request<{ columnDefinitions: Array<{ name: string }>; rows: Array<{ cells: unknown[] }> }>({
      method: 'GET',
      path: paths.pools(ns),
      accept: CONTENT.table,
    });
    const names = table.columnDefinitions.map((c) => c.name);
    const row = table.rows.find((r) => r.cells[0] === 'ext')!;
    const cell = (name: string) => row.cells[names.indexOf(name)];
    expect([cell('Ready'), cell('Replicas'), cell('Ready-Replicas'), cell('Scaling')]).toEqual(['True', 5, 5, 'external']);
  });
});

describe('examples/autoscaling', () => {
  const docs = (file: string) =>
    parseAllDocuments(readFileSync(path.join(REPO_ROOT, 'examples', 'autoscaling', file), 'utf8')).map((d) => d.toJS() as { kind: string; spec: Record<string, any> });

  test('the KEDA example targets <pool>-workers with one redis-streams trigger per vendor stream and group', () => {
    const [pool, scaled] = [docs('keda-scaledobject.yaml').find((d) => d.kind === 'VendorPool')!, docs('keda-scaledobject.yaml').find((d) => d.kind === 'ScaledObject')!];
    const parsed = vendorPoolSchema.parse(pool);
    expect(parsed.spec.workers.scaling).toBe('external');
    expect(scaled.spec.scaleTargetRef.name).toBe(deploymentName(parsed.metadata.name));
    const triggers = scaled.spec.triggers as Array<{ type: string; metadata: Record<string, string> }>;
    expect(triggers.map((t) => [t.type, t.metadata.stream, t.metadata.consumerGroup])).toEqual(parsed.spec.vendors.map((v) => ['redis-streams', keys.stream(v.name, 'normal'), keys.group]));
    for (const t of triggers) expect(Number(t.metadata.lagCount)).toBeGreaterThan(0);
  });

  test('the HPA example targets <pool>-workers on the workers’ lag metric', () => {
    const pool = vendorPoolSchema.parse(docs('hpa.yaml').find((d) => d.kind === 'VendorPool'));
    const hpa = docs('hpa.yaml').find((d) => d.kind === 'HorizontalPodAutoscaler')!;
    expect(pool.spec.workers.scaling).toBe('external');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deploymentName(pool.metadata.name) });
    expect(hpa.spec.metrics[0].external.metric).toEqual({ name: 'vendorfetch_stream_lag', selector: { matchLabels: { vendor: pool.spec.vendors[0]!.name } } });
  });
});
