import { vendorPoolSpecSchema } from '../core/vendorpool.js';
import { deploymentName, desiredDeployment, missingWorkerConfig } from './deployment.js';
import { workerPodDefaultsSchema, workerPodSettings } from './worker-pod.js';

const spec = vendorPoolSpecSchema.parse({
  vendors: [{ name: 'acme', url: 'http://acme.example/fetch', quota: { requestsPerSecond: 10 } }],
  workers: { concurrency: 7, resources: { limits: { cpu: '500m' } } },
});
const pool = { name: 'partners', namespace: 'team', uid: 'uid-1' };
const opts = { defaultImage: 'vendorfetch:dev', redisUrl: { value: 'redis://r:6379' } };

test('names, labels, selector and owner reference', () => {
  const d = desiredDeployment(pool, spec, 3, opts);
  expect(d.metadata?.name).toBe(deploymentName('partners'));
  expect(d.metadata?.namespace).toBe('team');
  expect(d.metadata?.ownerReferences).toEqual([
    { apiVersion: 'vendorfetch.io/v1alpha1', kind: 'VendorPool', name: 'partners', uid: 'uid-1', controller: true, blockOwnerDeletion: true },
  ]);
  const sel = d.spec!.selector.matchLabels!;
  for (const [k, v] of Object.entries(sel)) expect(d.spec!.template.metadata!.labels![k]).toBe(v);
  expect(d.spec!.replicas).toBe(3);
});

test('no replicas (external scaling): the field is left out, so server-side apply does not own it', () => {
  const d = desiredDeployment(pool, spec, undefined, opts);
  expect(d.spec).not.toHaveProperty('replicas');
  expect(d.spec!.template.spec!.containers).toHaveLength(1);
});

test("the controller's extraEnv reaches every worker, after the variables it sets itself", () => {
  const podDefaults = workerPodDefaultsSchema.parse({ extraEnv: [{ name: 'VF_PENDING_TIMEOUT_SECONDS', value: '60' }] });
  const d = desiredDeployment(pool, spec, 1, { ...opts, podDefaults }, workerPodSettings({}, undefined, podDefaults));
  const names = d.spec!.template.spec!.containers[0]!.env!.map((e) => e.name);
  expect(names.at(-1)).toBe('VF_PENDING_TIMEOUT_SECONDS');
  expect(names).toContain('VF_POOL');
  expect(d.spec!.template.spec!.containers[0]!.env!.at(-1)).toEqual({ name: 'VF_PENDING_TIMEOUT_SECONDS', value: '60' });
  // A name that is no env var, or a secret-looking valueFrom, is refused when the defaults are read.
  expect(workerPodDefaultsSchema.safeParse({ extraEnv: [{ name: 'BAD NAME', value: 'x' }] }).success).toBe(false);
  expect(workerPodDefaultsSchema.safeParse({ extraEnv: [{ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }).success).toBe(false);
});

test('env from values, secrets, pool identity; image default vs spec', () => {
  const d = desiredDeployment(pool, spec, 1, {
    ...opts,
    mongodbUrl: { secretKeyRef: { name: 'mongo', key: 'url' } },
    webhookBaseUrl: 'https://vf.example',
    callbackClients: { secretKeyRef: { name: 'callbacks', key: 'clients.json' } },
  });
  const c = d.spec!.template.spec!.containers[0]!;
  const env = Object.fromEntries(c.env!.map((e) => [e.name, e]));
  expect(env.REDIS_URL).toEqual({ name: 'REDIS_URL', value: 'redis://r:6379' });
  expect(env.MONGODB_URL?.valueFrom?.secretKeyRef).toEqual({ name: 'mongo', key: 'url' });
  expect(env.VF_POOL?.value).toBe('team/partners');
  expect(env.VF_CONCURRENCY?.value).toBe('7');
  expect(env.VF_WEBHOOK_BASE_URL?.value).toBe('https://vf.example');
  // Signing secrets reach the pod by reference only, never as a value in the Deployment.
  expect(env.VF_CALLBACK_CLIENTS).toEqual({ name: 'VF_CALLBACK_CLIENTS', valueFrom: { secretKeyRef: { name: 'callbacks', key: 'clients.json' } } });
  expect(c.image).toBe('vendorfetch:dev');
  expect(c.args).toEqual(['worker']);
  expect(c.command).toBeUndefined();
  // The pool's cpu limit; memory from the built-in defaults (never BestEffort).
  expect(c.resources).toEqual({ requests: { memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } });
  expect(env.LOG_LEVEL?.value).toBe('info');
  const custom = vendorPoolSpecSchema.parse({ ...spec, workers: { ...spec.workers, image: 'my/img:1' } });
  expect(desiredDeployment(pool, custom, 1, opts).spec!.template.spec!.containers[0]!.image).toBe('my/img:1');
  const noMongo = desiredDeployment(pool, spec, 1, opts).spec!.template.spec!.containers[0]!.env!;
  expect(noMongo.some((e) => e.name === 'MONGODB_URL')).toBe(false);
  expect(noMongo.some((e) => e.name === 'VF_CALLBACK_CLIENTS')).toBe(false);
  expect(noMongo.find((e) => e.name === 'VF_SQLITE_PATH')?.value).toBe('/tmp/vendorfetch.db');
});

test('probes on the worker health port and a locked-down security context', () => {
  const podSpec = desiredDeployment(pool, spec, 1, opts).spec!.template.spec!;
  const c = podSpec.containers[0]!;
  expect(c.ports).toEqual([{ name: 'metrics', containerPort: 8082, protocol: 'TCP' }]);
  expect(c.readinessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
  expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
  expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  expect(podSpec.securityContext?.runAsNonRoot).toBe(true);
});

test('vendor config stays out of the pod template (a quota edit is no rollout)', () => {
  const a = desiredDeployment(pool, spec, 1, opts);
  const edited = vendorPoolSpecSchema.parse({ ...spec, vendors: [{ ...spec.vendors[0], quota: { requestsPerSecond: 99 } }] });
  const b = desiredDeployment(pool, edited, 1, opts);
  expect(b.spec!.template).toEqual(a.spec!.template);
});

test('pod settings: scheduling, pull secrets, priority and log level reach the pod template', () => {
  const pod = workerPodSettings(
    {
      nodeSelector: { 'vendorfetch.io/role': 'workers' },
      tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } } },
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway' }],
      priorityClassName: 'vendorfetch-workers',
      logLevel: 'debug',
    },
    undefined,
    { imagePullSecrets: [{ name: 'regcred' }] },
  );
  const podSpec = desiredDeployment(pool, spec, 1, opts, pod).spec!.template.spec!;
  expect(podSpec.nodeSelector).toEqual({ 'vendorfetch.io/role': 'workers' });
  expect(podSpec.tolerations).toEqual([{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }]);
  expect(podSpec.affinity?.nodeAffinity).toBeDefined();
  expect(podSpec.priorityClassName).toBe('vendorfetch-workers');
  expect(podSpec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
  // A spread constraint without a selector counts the pool's own workers.
  expect(podSpec.topologySpreadConstraints?.[0]?.labelSelector).toEqual({ matchLabels: d0Selector() });
  expect(podSpec.containers[0]!.env!.find((e) => e.name === 'LOG_LEVEL')?.value).toBe('debug');
  // Unset settings stay out of the template (no empty fields for server-side apply to own).
  const plain = desiredDeployment(pool, spec, 1, opts).spec!.template.spec!;
  for (const k of ['nodeSelector', 'tolerations', 'affinity', 'topologySpreadConstraints', 'priorityClassName', 'imagePullSecrets'] as const) expect(plain[k]).toBeUndefined();
});

const d0Selector = () => desiredDeployment(pool, spec, 1, opts).spec!.selector.matchLabels;

test('missingWorkerConfig: a controller without a store for its workers says so', () => {
  expect(missingWorkerConfig(opts)).toMatch(/no store for its workers: set VF_WORKER_MONGODB_URL or VF_WORKER_MONGODB_SECRET/);
  expect(missingWorkerConfig({ ...opts, mongodbUrl: { value: 'mongodb://m/vf' } })).toBeUndefined();
});
