// Events (events.k8s.io/v1) on VendorPools against the real kube-apiserver, read back the way
// `kubectl describe vp` reads them (core/v1 Events of the pool's uid) and through kubectl
// describe itself: Scaled (from → to, lag), InvalidSpec, VendorNameTaken (conflict),
// RegistryUnavailable, and LeaderElected from a real controller process (main.ts).
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { paths, type VendorPoolObject } from '../../controller/api-types.js';
import { createController, type Controller } from '../../controller/controller.js';
import { deploymentName } from '../../controller/deployment.js';
import { CONTENT } from '../../controller/kube.js';
import { keys } from '../../core/keys.js';
import { VendorRegistry } from '../../core/registry.js';
import { freePort, waitForPort } from '../../testing/ports.js';
import { startRedis } from '../../testing/redis-server.js';
import { useRedisServer } from '../../testing/use-redis-server.js';
import { compiledController, createNamespace, createPool, deleteNamespace, describeWithKube, haveCompiledController, testControllerOptions, until, vendor } from './support.js';

const { describe: d, env } = await describeWithKube();
const exec = promisify(execFile);
const redisServer = useRedisServer();

interface CoreEvent {
  type: string;
  reason: string;
  message: string;
  reportingComponent?: string;
  involvedObject: { kind: string; name: string; uid?: string };
}

/** The pool's Events as `kubectl describe` finds them: core/v1, by involvedObject uid/name/kind. */
async function poolEvents(namespace: string, name: string): Promise<CoreEvent[]> {
  const pool = await env!.kube.request<VendorPoolObject>({ method: 'GET', path: paths.pool(namespace, name) });
  const selector = `involvedObject.kind=VendorPool,involvedObject.name=${name},involvedObject.namespace=${namespace},involvedObject.uid=${pool.metadata.uid}`;
  const list = await env!.kube.request<{ items: CoreEvent[] }>({ method: 'GET', path: `/api/v1/namespaces/${namespace}/events`, query: { fieldSelector: selector } });
  return list.items;
}

const eventWith = (namespace: string, name: string, reason: string) =>
  until(`a ${reason} Event on ${name}`, async () => (await poolEvents(namespace, name)).find((e) => e.reason === reason), 15_000);

/** Remove the finalizer and delete: the suites' controllers may already be gone or blind. */
async function forceDelete(namespace: string, name: string): Promise<void> {
  await env!.kube.request({ method: 'PATCH', path: paths.pool(namespace, name), body: { metadata: { finalizers: null } }, contentType: CONTENT.merge }).catch(() => {});
  await env!.kube.request({ method: 'DELETE', path: paths.pool(namespace, name) }).catch(() => {});
}

d('Events on VendorPools (real kube-apiserver)', () => {
  let ns = '';
  let controller: Controller;

  beforeAll(async () => {
    ns = await createNamespace(env!.kube, 'vf-events');
    controller = createController(
      testControllerOptions(env!, redisServer.redis, ns, {
        identity: 'events-test',
        deployment: { defaultImage: 'vendorfetch:test', redisUrl: { value: redisServer.url }, mongodbUrl: { value: 'mongodb://m:27017/vf' } },
      }),
    );
    await controller.start();
  });

  afterAll(async () => {
    await controller.stop();
    const list = await env!.kube.request<{ items: VendorPoolObject[] }>({ method: 'GET', path: paths.pools(ns) });
    for (const p of list.items) await forceDelete(ns, p.metadata.name);
    await deleteNamespace(env!.kube, ns);
  });

  test('Scaled: from → to with the lag, once per change; kubectl describe vp lists it', async () => {
    await createPool(env!.kube, ns, 'busy', { vendors: [vendor('busy-v')], workers: { minReplicas: 1, maxReplicas: 3, targetLagPerReplica: 10 } });
    await until('1 replica', async () => (await env!.kube.request<{ spec: { replicas: number } }>({ method: 'GET', path: paths.deployment(ns, deploymentName('busy')) })).spec.replicas === 1);
    const p = redisServer.redis.pipeline();
    for (let i = 0; i < 15; i++) p.xadd(keys.stream('busy-v', 'normal'), '*', 'id', String(i));
    await p.exec();
    const scaled = await eventWith(ns, 'busy', 'Scaled');
    expect(scaled).toMatchObject({ type: 'Normal', message: 'scaled workers from 1 to 2 (lag 15, target 10 per replica)', reportingComponent: 'vendorfetch.io/controller' });
    await new Promise((r) => setTimeout(r, 1000)); // several passes at the same lag
    expect((await poolEvents(ns, 'busy')).filter((e) => e.reason === 'Scaled')).toHaveLength(1);

    // The same through kubectl itself.
    const kubectl = path.join(process.env.VF_TESTENV_BIN!, 'kubectl');
    const { stdout } = await exec(kubectl, ['describe', 'vp', 'busy', '-n', ns], { env: { ...process.env, KUBECONFIG: process.env.KUBECONFIG } });
    expect(stdout).toMatch(/^Events:/m);
    expect(stdout).toMatch(/Normal\s+Scaled\s+.*scaled workers from 1 to 2 \(lag 15, target 10 per replica\)/);
  });

  test('InvalidSpec: a Warning when the controller refuses the spec', async () => {
    // Both budget fields: the CRD lets it through (open object), the controller refuses it.
    await createPool(env!.kube, ns, 'broken', { vendors: [vendor('broken-v')], workers: { podDisruptionBudget: { maxUnavailable: 1, minAvailable: 1 } } });
    const e = await eventWith(ns, 'broken', 'InvalidSpec');
    expect(e.type).toBe('Warning');
    expect(e.message).toContain('not both');
  });

  test('VendorNameTaken: a Warning on the pool that lost the vendor name', async () => {
    await createPool(env!.kube, ns, 'owner', { vendors: [vendor('contested')] });
    await until('owner registered', async () => (await new VendorRegistry(redisServer.redis).get('contested'))?.pool === `${ns}/owner`);
    await new Promise((r) => setTimeout(r, 1100)); // creationTimestamp has 1 s resolution
    await createPool(env!.kube, ns, 'latecomer', { vendors: [vendor('contested')] });
    const e = await eventWith(ns, 'latecomer', 'VendorNameTaken');
    expect(e.type).toBe('Warning');
    expect(e.message).toContain(`contested (owned by ${ns}/owner)`);
    expect((await poolEvents(ns, 'owner')).map((x) => x.reason)).not.toContain('VendorNameTaken');
  });
});

d('RegistryUnavailable Event (real kube-apiserver)', () => {
  test('a Warning when Redis cannot be reached', async () => {
    const ns = await createNamespace(env!.kube, 'vf-events-redis');
    const dead = await startRedis();
    await dead.stop(); // nothing listens there any more
    const redis = new Redis(dead.url, { maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    const controller = createController(
      testControllerOptions(env!, redis, ns, {
        retryBaseMs: 200,
        deployment: { defaultImage: 'vendorfetch:test', redisUrl: { value: dead.url }, mongodbUrl: { value: 'mongodb://m:27017/vf' } },
      }),
    );
    try {
      await controller.start();
      await createPool(env!.kube, ns, 'orphan', { vendors: [vendor('orphan-v')] });
      const e = await eventWith(ns, 'orphan', 'RegistryUnavailable');
      expect(e.type).toBe('Warning');
      expect(e.message).toMatch(/^Redis unavailable/);
      // Retries keep failing the same way: still one Event, not one per pass.
      await new Promise((r) => setTimeout(r, 2000));
      expect((await poolEvents(ns, 'orphan')).filter((x) => x.reason === 'RegistryUnavailable')).toHaveLength(1);
    } finally {
      await controller.stop();
      redis.disconnect();
      await forceDelete(ns, 'orphan');
      await deleteNamespace(env!.kube, ns);
    }
  });
});

const withCompiled = haveCompiledController() ? d : describe.skip;
if (!haveCompiledController()) console.warn(`SKIPPED (LeaderElected Event): ${compiledController} is missing; run npm run build first`);

withCompiled('LeaderElected Event from the controller process (main.ts)', () => {
  test('the new leader says so on its Lease and on every pool it reconciles', async () => {
    const ns = await createNamespace(env!.kube, 'vf-events-leader');
    await createPool(env!.kube, ns, 'watched', { vendors: [vendor('watched-v')] });
    const port = await freePort();
    const child = spawn(process.execPath, [compiledController], {
      env: {
        ...process.env,
        REDIS_URL: redisServer.url,
        VF_WORKER_MONGODB_URL: 'mongodb://m:27017/vf',
        POD_NAME: 'events-leader-0',
        POD_NAMESPACE: ns,
        VF_WATCH_NAMESPACE: ns,
        VF_LEASE_DURATION_MS: '4000',
        VF_RENEW_DEADLINE_MS: '3000',
        VF_RETRY_PERIOD_MS: '1000',
        METRICS_PORT: String(port),
        METRICS_HOST: '127.0.0.1',
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      await waitForPort(port, 15_000);
      const e = await eventWith(ns, 'watched', 'LeaderElected');
      expect(e).toMatchObject({ type: 'Normal', message: 'controller events-leader-0 was elected leader and reconciles this pool' });
      const lease = await until('the LeaderElection Event on the Lease', async () => {
        const list = await env!.kube.request<{ items: Array<{ reason: string; note: string; regarding: { kind: string; name: string } }> }>({
          method: 'GET',
          path: `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
        });
        return list.items.find((x) => x.reason === 'LeaderElection' && x.regarding.kind === 'Lease' && x.regarding.name === 'vendorfetch-controller');
      });
      expect(lease.note).toBe('events-leader-0 became leader');
    } finally {
      child.kill('SIGTERM');
      await exited;
      await forceDelete(ns, 'watched');
      await deleteNamespace(env!.kube, ns);
    }
  });
});
