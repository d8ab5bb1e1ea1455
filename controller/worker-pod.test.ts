import { BUILTIN_WORKER_DEFAULTS, desiredPdb, validateWorkerPod, workerPodSettings, workerResources } from './worker-pod.js';

describe('workerResources (per resource name: the pool, else the default)', () => {
  const defaults = BUILTIN_WORKER_DEFAULTS.resources;
  test('no pool resources → the defaults (requests set: never BestEffort)', () => {
    expect(workerResources(undefined, defaults)).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } });
  });
  test('a pool that only limits cpu keeps the default memory request and limit', () => {
    expect(workerResources({ limits: { cpu: '500m' } }, defaults)).toEqual({ requests: { memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } });
  });
  test('a pool memory limit below the default request is not mixed with the default request', () => {
    expect(workerResources({ limits: { memory: '64Mi' } }, defaults)).toEqual({ requests: { cpu: '100m' }, limits: { memory: '64Mi' } });
  });
  test('a pool that names everything gets exactly its own', () => {
    const own = { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '2Gi' } };
    expect(workerResources(own, defaults)).toEqual(own);
  });
});

describe('workerPodSettings (pool value, else controller default, else built-in)', () => {
  test('built-in: resources, info, PDB maxUnavailable 1, nothing else', () => {
    expect(workerPodSettings({}, undefined)).toEqual({
      logLevel: 'info',
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
      podDisruptionBudget: { maxUnavailable: 1 },
    });
  });
  test('controller defaults apply; a pool value replaces them, even an empty one', () => {
    const defaults = {
      nodeSelector: { pool: 'workers' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'vf', effect: 'NoSchedule' }],
      priorityClassName: 'batch',
      imagePullSecrets: [{ name: 'regcred' }],
      logLevel: 'warn' as const,
      podDisruptionBudget: { minAvailable: '50%' },
    };
    const a = workerPodSettings({}, undefined, defaults);
    expect(a).toMatchObject({ nodeSelector: { pool: 'workers' }, priorityClassName: 'batch', logLevel: 'warn', imagePullSecrets: [{ name: 'regcred' }], podDisruptionBudget: { minAvailable: '50%' } });
    const b = workerPodSettings({ nodeSelector: {}, logLevel: 'debug', podDisruptionBudget: { maxUnavailable: 2 } }, undefined, defaults);
    expect(b.nodeSelector).toEqual({});
    expect(b.logLevel).toBe('debug');
    expect(b.podDisruptionBudget).toEqual({ maxUnavailable: 2 });
    expect(b.tolerations).toEqual(defaults.tolerations);
  });
  test('podDisruptionBudget.enabled false → none', () => {
    expect(workerPodSettings({ podDisruptionBudget: { enabled: false } }, undefined).podDisruptionBudget).toBeUndefined();
    expect(workerPodSettings({}, undefined, { podDisruptionBudget: { enabled: false } }).podDisruptionBudget).toBeUndefined();
    expect(workerPodSettings({ podDisruptionBudget: { enabled: true } }, undefined, { podDisruptionBudget: { enabled: false } }).podDisruptionBudget).toEqual({ maxUnavailable: 1 });
  });
});

test('validateWorkerPod: the Kubernetes-only fields of spec.workers, with paths in messages', () => {
  expect(validateWorkerPod({ vendors: [] })).toEqual({ ok: true, pod: {} });
  expect(validateWorkerPod({ workers: { minReplicas: 1, nodeSelector: { a: 'b' }, logLevel: 'debug' } })).toEqual({ ok: true, pod: { nodeSelector: { a: 'b' }, logLevel: 'debug' } });
  const bad = validateWorkerPod({ workers: { logLevel: 'loud', podDisruptionBudget: { maxUnavailable: 1, minAvailable: 1 } } });
  expect(bad.ok).toBe(false);
  expect(!bad.ok && bad.message).toMatch(/spec\.workers\.logLevel/);
  expect(!bad.ok && bad.message).toMatch(/set maxUnavailable or minAvailable, not both/);
});

test('desiredPdb: owned by the pool, selects its worker pods', () => {
  const pdb = desiredPdb({ name: 'partners', namespace: 'team', uid: 'u1' }, { maxUnavailable: 1 });
  expect(pdb.metadata?.name).toBe('partners-workers');
  expect(pdb.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'VendorPool', name: 'partners', uid: 'u1', controller: true });
  expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'vendorfetch', 'app.kubernetes.io/component': 'worker', 'vendorfetch.io/pool': 'partners' } } });
});
