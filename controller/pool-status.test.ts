import type { V1Deployment } from '@kubernetes/client-node';
import { CONDITION_TYPES, findCondition } from './conditions.js';
import { allWorkersReady, poolConditions, poolStatus, rolloutOf, type PoolObservation, type WorkerRollout } from './pool-status.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:01:00Z');

const lag = { total: 7, vendors: [{ name: 'acme', lag: 7, pending: 1, circuit: 'closed', paused: false }] };
const published = { conflicts: [], lag };
const settled: WorkerRollout = { replicas: 2, ready: 2, updated: 2, rolledOut: true };
const applied = (o: Partial<Extract<PoolObservation, { outcome: 'Applied' }>> = {}): PoolObservation => ({
  outcome: 'Applied',
  vendorNames: ['acme', 'globex'],
  plan: published,
  rollout: settled,
  scheduling: { pending: 0, unschedulable: 0 },
  ...o,
});

const every: PoolObservation[] = [
  { outcome: 'InvalidSpec', message: 'spec.vendors: too few' },
  { outcome: 'NoWorkerStore', message: 'no store', vendorNames: ['acme'] },
  { outcome: 'RegistryUnavailable', message: 'Redis unavailable: ECONNREFUSED', vendorNames: ['acme'] },
  { outcome: 'ApplyFailed', message: 'applying the worker Deployment failed: 500', vendorNames: ['acme'], plan: published },
  applied(),
];

test('every outcome sets every condition type, with the observed generation', () => {
  for (const o of every) {
    expect(poolConditions(o).map((c) => c.type)).toEqual([...CONDITION_TYPES]);
    const s = poolStatus(o, [], 4, t0);
    expect(s.conditions.every((c) => c.observedGeneration === 4 && c.status !== undefined)).toBe(true);
    expect(s.observedGeneration).toBe(4);
  }
});

test('a healthy pass: Ready, not Progressing, not Degraded, no Conflict; every observed field in the status', () => {
  const s = poolStatus(applied(), [], 3, t0);
  expect(findCondition(s.conditions, 'Ready')).toMatchObject({ status: 'True', reason: 'WorkersReady', message: '2/2 workers ready' });
  expect(findCondition(s.conditions, 'Progressing')).toMatchObject({ status: 'False', reason: 'Stable' });
  expect(findCondition(s.conditions, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
  expect(findCondition(s.conditions, 'Conflict')).toMatchObject({ status: 'False', reason: 'NoConflict' });
  const { conditions: _, ...fields } = s;
  expect(fields).toEqual({
    observedGeneration: 3,
    vendorNames: 'acme,globex',
    lag: 7,
    vendors: [{ name: 'acme', lag: 7, pending: 1, circuit: 'closed', paused: false }],
    replicas: 2,
    readyReplicas: 2,
    pendingPods: 0,
    unschedulablePods: 0,
  });
});

test('Ready explains what holds the workers back: a conflict first, then unschedulable pods, then not-ready ones', () => {
  const rolling: WorkerRollout = { replicas: 3, ready: 1, updated: 1, rolledOut: false };
  const conflict = { conflicts: [{ vendor: 'acme', owner: 'ns/first' }, { vendor: 'globex' }], lag };
  const withConflict = poolConditions(applied({ plan: conflict, rollout: rolling }));
  expect(withConflict.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'VendorConflict' });
  expect(withConflict.find((c) => c.type === 'Conflict')).toMatchObject({
    status: 'True',
    reason: 'VendorNameTaken',
    message: 'vendor names used by another pool: acme (owned by ns/first), globex (owned by another pool)',
  });
  const unschedulable = poolConditions(applied({ rollout: rolling, scheduling: { pending: 2, unschedulable: 1, message: 'p1: no node' } }));
  expect(unschedulable.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'WorkersUnschedulable', message: '1/3 workers ready; 1 pod(s) cannot be scheduled: p1: no node' });
  expect(unschedulable.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut', message: '1/3 workers updated' });
  const notReady = poolConditions(applied({ rollout: rolling, scheduling: { pending: 2, unschedulable: 0 } }));
  expect(notReady.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'WorkersNotReady', message: '1/3 workers ready' });
});

test('failures: Degraded=True and Ready=False with the same reason; what was not checked is Unknown', () => {
  for (const o of every.slice(0, 4)) {
    const c = poolConditions(o);
    const reason = o.outcome;
    expect(c.find((x) => x.type === 'Degraded')).toMatchObject({ status: 'True', reason });
    expect(c.find((x) => x.type === 'Ready')).toMatchObject({ status: 'False', reason });
  }
  const [invalid, noStore, redisDown, applyFailed] = every.map(poolConditions);
  expect(invalid!.find((x) => x.type === 'Conflict')?.status).toBe('Unknown');
  expect(noStore!.find((x) => x.type === 'Conflict')?.status).toBe('Unknown');
  expect(redisDown!.find((x) => x.type === 'Conflict')?.status).toBe('Unknown');
  expect(redisDown!.find((x) => x.type === 'Progressing')?.status).toBe('Unknown');
  // After an apply failure the registry was published: Conflict is known.
  expect(applyFailed!.find((x) => x.type === 'Conflict')).toMatchObject({ status: 'False', reason: 'NoConflict' });
});

test('nothing from an earlier pass survives a pass that could not observe it (invalid spec, Redis outage, failed apply)', () => {
  const healthy = poolStatus(applied(), [], 1, t0);
  const [invalid, noStore, redisDown, applyFailed] = every.map((o) => poolStatus(o, healthy.conditions, 2, t1));
  const fields = (s: object) => Object.keys(s).filter((k) => k !== 'conditions').sort();
  expect(fields(invalid!)).toEqual(['observedGeneration']);
  expect(fields(noStore!)).toEqual(['observedGeneration', 'vendorNames']);
  expect(fields(redisDown!)).toEqual(['observedGeneration', 'vendorNames']);
  expect(fields(applyFailed!)).toEqual(['lag', 'observedGeneration', 'vendorNames', 'vendors']);
});

test('transition times carry over from the previous conditions while a status stays the same', () => {
  const first = poolStatus({ outcome: 'RegistryUnavailable', message: 'Redis unavailable: a', vendorNames: [] }, [], 1, t0);
  const again = poolStatus({ outcome: 'RegistryUnavailable', message: 'Redis unavailable: b', vendorNames: [] }, first.conditions, 1, t1);
  expect(findCondition(again.conditions, 'Degraded')).toMatchObject({ message: 'Redis unavailable: b', lastTransitionTime: t0.toISOString() });
  const healed = poolStatus(applied(), again.conditions, 1, t1);
  expect(findCondition(healed.conditions, 'Degraded')?.lastTransitionTime).toBe(t1.toISOString());
});

test('rolloutOf reads the applied Deployment: rolled out only once the new generation is observed and every replica updated', () => {
  const dep = (generation: number, observed: number, updated: number, ready: number): V1Deployment => ({
    metadata: { generation },
    spec: { replicas: 3, selector: {}, template: {} },
    status: { observedGeneration: observed, updatedReplicas: updated, readyReplicas: ready },
  });
  expect(rolloutOf(dep(2, 1, 3, 3), 5)).toEqual({ replicas: 3, ready: 3, updated: 3, rolledOut: false });
  expect(rolloutOf(dep(2, 2, 2, 3), 5).rolledOut).toBe(false);
  const done = rolloutOf(dep(2, 2, 3, 3), 5);
  expect(done.rolledOut).toBe(true);
  expect(allWorkersReady(done)).toBe(true);
  expect(allWorkersReady(rolloutOf(dep(2, 2, 3, 2), 5))).toBe(false);
  // No replicas in the answer (never yet): what we asked for.
  expect(rolloutOf({ metadata: { generation: 1 } }, 4).replicas).toBe(4);
});

test('a paused vendor is shown paused in status.vendors, with its lag; status.lag (what replicas follow) leaves it out', () => {
  const withPaused = {
    conflicts: [],
    lag: {
      total: 7,
      vendors: [
        { name: 'acme', lag: 7, pending: 1, circuit: 'closed', paused: false },
        { name: 'globex', lag: 40, pending: 0, circuit: 'closed', paused: true },
      ],
    },
  };
  for (const o of [applied({ plan: withPaused }), { outcome: 'ApplyFailed' as const, message: 'x', vendorNames: ['acme', 'globex'], plan: withPaused }]) {
    const s = poolStatus(o, [], 1, t0);
    expect(s.lag).toBe(7);
    expect(s.vendors).toEqual([
      { name: 'acme', lag: 7, pending: 1, circuit: 'closed', paused: false },
      { name: 'globex', lag: 40, pending: 0, circuit: 'closed', paused: true },
    ]);
  }
});
