// What worker pods can be given, and what the pool says about them, against the real
// kube-apiserver: per-pool scheduling settings over the controller's defaults reach the
// Deployment; each pool gets a PodDisruptionBudget it owns (and loses it when turned off); a
// worker pod the scheduler cannot place shows in the pool's status; and a controller without a
// store for its workers makes no Deployment, but a Degraded pool and an Event. There is no
// scheduler or kube-controller-manager here, so the test plays both: it creates the worker pod
// and reports it Unschedulable, as kube-scheduler would for a nodeSelector no node matches.
import type { CoreV1Event, V1Deployment, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { paths } from '../../controller/api-types.js';
import { findCondition } from '../../controller/conditions.js';
import { createController, type Controller, type ControllerOptions } from '../../controller/controller.js';
import { deploymentName, selectorLabels } from '../../controller/deployment.js';
import { CONTENT, isKubeError } from '../../controller/kube.js';
import { useRedisServer } from '../../testing/use-redis-server.js';
import { createNamespace, createPool, deleteNamespace, deletePools, describeWithKube, getPool, testControllerOptions, until, vendor } from './support.js';

const { describe: d, env } = await describeWithKube();
const redisServer = useRedisServer();

const pdbPath = (ns: string, pool: string) => `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/${deploymentName(pool)}`;

d('worker pods: settings, PodDisruptionBudget, unschedulable pods, no store (real kube-apiserver)', () => {
  let ns = '';
  const controllers: Controller[] = [];

  beforeAll(async () => {
    ns = await createNamespace(env!.kube, 'vf-workerpods');
  });
  afterAll(async () => {
    await deletePools(env!.kube, ns); // while a controller still runs to remove their finalizers
    for (const c of controllers) await c.stop();
    await deleteNamespace(env!.kube, ns);
  });

  async function startController(deployment: Partial<ControllerOptions['deployment']>, watch = ns): Promise<Controller> {
    const c = createController(
      testControllerOptions(env!, redisServer.redis, watch, {
        identity: 'worker-pods-test',
        deployment: { defaultImage: 'vendorfetch:test', redisUrl: { value: 'redis://r:6379' }, ...deployment },
      }),
    );
    controllers.push(c);
    await c.start();
    return c;
  }

  const getDeployment = (namespace: string, pool: string) => env!.kube.request<V1Deployment>({ method: 'GET', path: paths.deployment(namespace, deploymentName(pool)) });
  const gone = async (p: Promise<unknown>) => p.then(() => false, (err: unknown) => isKubeError(err, 404));

  test('pool settings over controller defaults reach the Deployment; the pool owns its PodDisruptionBudget; turning it off deletes it', async () => {
    await startController({
      mongodbUrl: { value: 'mongodb://m:27017/vf' },
      podDefaults: {
        imagePullSecrets: [{ name: 'regcred' }],
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'vendorfetch', effect: 'NoSchedule' }],
        logLevel: 'warn',
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
        podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
      },
    });
    const created = await createPool(env!.kube, ns, 'placed', {
      vendors: [vendor('placed-vendor')],
      workers: {
        minReplicas: 2,
        nodeSelector: { 'vendorfetch.io/workers': 'true' },
        priorityClassName: 'system-cluster-critical',
        affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'vendorfetch.io/pool': 'placed' } } } }] } },
        topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' }],
        logLevel: 'debug',
        resources: { limits: { cpu: '1' } },
        podDisruptionBudget: { minAvailable: 1 },
      },
    });
    const dep = await until('the worker Deployment', () => getDeployment(ns, 'placed'));
    const pod = dep.spec!.template.spec!;
    expect(pod.nodeSelector).toEqual({ 'vendorfetch.io/workers': 'true' });
    expect(pod.tolerations).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'vendorfetch', effect: 'NoSchedule' }]); // controller default
    expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(pod.priorityClassName).toBe('system-cluster-critical');
    expect(pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.weight).toBe(50);
    expect(pod.topologySpreadConstraints?.[0]).toMatchObject({ topologyKey: 'topology.kubernetes.io/zone', labelSelector: { matchLabels: selectorLabels('placed') } });
    const c = pod.containers[0]!;
    expect(c.env?.find((e) => e.name === 'LOG_LEVEL')?.value).toBe('debug');
    // The pool's cpu limit; memory from the defaults: requests set, so never BestEffort.
    expect(c.resources).toEqual({ requests: { memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } });

    const pdb = await until('the pool PodDisruptionBudget', () => env!.kube.request<V1PodDisruptionBudget>({ method: 'GET', path: pdbPath(ns, 'placed') }));
    expect(pdb.spec?.minAvailable).toBe(1);
    expect(pdb.spec?.maxUnavailable).toBeUndefined();
    expect(pdb.spec?.selector?.matchLabels).toEqual(selectorLabels('placed'));
    expect(pdb.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'VendorPool', name: 'placed', uid: created.metadata.uid, controller: true })]);

    // The budget turned off: the pool's own budget is deleted (with a precondition on its uid).
    await env!.kube.request({
      method: 'PATCH',
      path: paths.pool(ns, 'placed'),
      body: { spec: { workers: { podDisruptionBudget: { enabled: false, minAvailable: null } } } },
      contentType: CONTENT.merge,
    });
    await until('the PodDisruptionBudget deleted', () => gone(env!.kube.request({ method: 'GET', path: pdbPath(ns, 'placed') })));
  });

  test('a budget with both bounds: Degraded=True InvalidSpec naming the field, and no Deployment', async () => {
    await createPool(env!.kube, ns, 'both-bounds', { vendors: [vendor('bb')], workers: { podDisruptionBudget: { maxUnavailable: 1, minAvailable: 1 } } });
    const pool = await until('InvalidSpec', async () => {
      const p = await getPool(env!.kube, ns, 'both-bounds');
      return findCondition(p.status?.conditions, 'Degraded')?.reason === 'InvalidSpec' ? p : undefined;
    });
    expect(findCondition(pool.status?.conditions, 'Degraded')?.message).toContain('spec.workers.podDisruptionBudget.maxUnavailable: set maxUnavailable or minAvailable, not both');
    expect(await gone(getDeployment(ns, 'both-bounds'))).toBe(true);
  });

  test('a pool whose spec turns invalid keeps no replicas, lag or vendors from before in its status; fixed, they come back', async () => {
    await createPool(env!.kube, ns, 'turns-bad', { vendors: [vendor('tb')], workers: { minReplicas: 2 } });
    const healthy = await until('replicas in the status', async () => {
      const p = await getPool(env!.kube, ns, 'turns-bad');
      return p.status?.replicas === 2 ? p : undefined;
    });
    expect(healthy.status).toMatchObject({ lag: 0, vendorNames: 'tb', vendors: [{ name: 'tb' }] });
    // Both budget bounds: the CRD lets it through (open object), the controller refuses it.
    const patch = (podDisruptionBudget: unknown) =>
      env!.kube.request({ method: 'PATCH', path: paths.pool(ns, 'turns-bad'), body: { spec: { workers: { podDisruptionBudget } } }, contentType: CONTENT.merge });
    await patch({ maxUnavailable: 1, minAvailable: 1 });
    const invalid = await until('InvalidSpec', async () => {
      const p = await getPool(env!.kube, ns, 'turns-bad');
      return findCondition(p.status?.conditions, 'Degraded')?.reason === 'InvalidSpec' ? p : undefined;
    });
    expect(invalid.status?.observedGeneration).toBe(invalid.metadata.generation);
    for (const field of ['replicas', 'readyReplicas', 'lag', 'vendors', 'vendorNames', 'pendingPods', 'unschedulablePods']) {
      expect(invalid.status).not.toHaveProperty(field);
    }
    // The Deployment made while the spec was valid is left as it was.
    expect((await getDeployment(ns, 'turns-bad')).spec?.replicas).toBe(2);

    await patch({ minAvailable: null });
    const fixed = await until('replicas back in the status', async () => {
      const p = await getPool(env!.kube, ns, 'turns-bad');
      return p.status?.replicas === 2 && findCondition(p.status.conditions, 'Degraded')?.status === 'False' ? p : undefined;
    });
    expect(fixed.status).toMatchObject({ lag: 0, vendorNames: 'tb' });
  });

  test('a nodeSelector no node matches: the Pending pod shows in the status (pendingPods, unschedulablePods, Ready=False WorkersUnschedulable)', async () => {
    await createPool(env!.kube, ns, 'nowhere', { vendors: [vendor('nowhere-vendor')], workers: { nodeSelector: { 'vendorfetch.io/no-such-node': 'true' } } });
    const dep = await until('the worker Deployment', () => getDeployment(ns, 'nowhere'));
    // Play kube-controller-manager (a pod from the template) and kube-scheduler (cannot place it).
    const podName = 'nowhere-workers-test-1';
    await env!.kube.request({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/pods`,
      body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: podName, labels: dep.spec!.template.metadata!.labels }, spec: dep.spec!.template.spec },
    });
    const message = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";
    await env!.kube.request({
      method: 'PATCH',
      path: `/api/v1/namespaces/${ns}/pods/${podName}/status`,
      body: { status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastTransitionTime: new Date().toISOString() }] } },
      contentType: CONTENT.merge,
    });
    const pool = await until('the pool to report the unschedulable pod', async () => {
      const p = await getPool(env!.kube, ns, 'nowhere');
      return (p.status as { unschedulablePods?: number } | undefined)?.unschedulablePods === 1 ? p : undefined;
    });
    expect(pool.status).toMatchObject({ pendingPods: 1, unschedulablePods: 1 });
    const ready = findCondition(pool.status?.conditions, 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'WorkersUnschedulable', observedGeneration: pool.metadata.generation });
    expect(ready?.message).toContain("didn't match Pod's node affinity/selector");
  });

  test('no store for the workers: Degraded=True NoWorkerStore, a Warning Event, and no worker Deployment', async () => {
    const other = await createNamespace(env!.kube, 'vf-nostore');
    try {
      await startController({}, other); // no mongodbUrl
      await createPool(env!.kube, other, 'demo', { vendors: [vendor('nostore-vendor')] });
      const pool = await until('Degraded', async () => {
        const p = await getPool(env!.kube, other, 'demo');
        return findCondition(p.status?.conditions, 'Degraded')?.status === 'True' ? p : undefined;
      });
      const degraded = findCondition(pool.status?.conditions, 'Degraded')!;
      expect(degraded).toMatchObject({ reason: 'NoWorkerStore', observedGeneration: pool.metadata.generation });
      expect(degraded.message).toMatch(/no store for its workers: set VF_WORKER_MONGODB_URL or VF_WORKER_MONGODB_SECRET/);
      expect(findCondition(pool.status?.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'NoWorkerStore' });
      const events = await until('a Warning Event on the pool', async () => {
        const list = await env!.kube.request<{ items: CoreV1Event[] }>({
          method: 'GET',
          path: `/api/v1/namespaces/${other}/events`,
          query: { fieldSelector: `involvedObject.kind=VendorPool,involvedObject.name=demo,involvedObject.uid=${pool.metadata.uid}` },
        });
        return list.items.length > 0 ? list.items : undefined;
      });
      expect(events).toHaveLength(1);
      // Written through events.k8s.io/v1: its reportingController reads back as reportingComponent.
      expect(events[0]).toMatchObject({ type: 'Warning', reason: 'NoWorkerStore', reportingComponent: 'vendorfetch.io/controller' });
      // Several passes later: still no Deployment, no PodDisruptionBudget and no second Event.
      await new Promise((r) => setTimeout(r, 1500));
      expect(await gone(getDeployment(other, 'demo'))).toBe(true);
      expect(await gone(env!.kube.request({ method: 'GET', path: pdbPath(other, 'demo') }))).toBe(true);
      const again = await env!.kube.request<{ items: CoreV1Event[] }>({ method: 'GET', path: `/api/v1/namespaces/${other}/events`, query: { fieldSelector: 'involvedObject.name=demo' } });
      expect(again.items).toHaveLength(1);
      await env!.kube.request({ method: 'DELETE', path: paths.pool(other, 'demo') });
      await until('pool finalized', () => gone(getPool(env!.kube, other, 'demo')));
    } finally {
      await deleteNamespace(env!.kube, other);
    }
  });
});
