import type { VendorPoolObject } from './api-types.js';
import type { Condition } from './conditions.js';
import { conditionEvents, eventObject, poolRef, scaledEvent } from './events.js';

const c = (type: string, status: Condition['status'], reason: string, message = `m-${reason}`): Condition => ({ type, status, reason, message, lastTransitionTime: 't' });

test('a Warning only when Degraded turns True or changes its reason', () => {
  expect(conditionEvents(undefined, [c('Degraded', 'True', 'InvalidSpec')])).toEqual([
    { type: 'Warning', reason: 'InvalidSpec', action: 'Validate', note: 'm-InvalidSpec' },
  ]);
  expect(conditionEvents([c('Degraded', 'Unknown', 'Reconciling')], [c('Degraded', 'True', 'RegistryUnavailable')])).toMatchObject([{ reason: 'RegistryUnavailable', action: 'PublishRegistry' }]);
  // Same reason, another error text: not a new story.
  expect(conditionEvents([c('Degraded', 'True', 'RegistryUnavailable', 'ECONNREFUSED')], [c('Degraded', 'True', 'RegistryUnavailable', 'timeout')])).toEqual([]);
  expect(conditionEvents([c('Degraded', 'True', 'NoWorkerStore')], [c('Degraded', 'True', 'ApplyFailed')])).toMatchObject([{ reason: 'ApplyFailed' }]);
  expect(conditionEvents([c('Degraded', 'True', 'ApplyFailed')], [c('Degraded', 'False', 'AsExpected')])).toEqual([]);
});

test('a Warning when Conflict turns True or names other vendors', () => {
  const taken = (m: string) => c('Conflict', 'True', 'VendorNameTaken', m);
  expect(conditionEvents([c('Conflict', 'False', 'NoConflict')], [taken('a (owned by x/y)')])).toEqual([
    { type: 'Warning', reason: 'VendorNameTaken', action: 'PublishRegistry', note: 'a (owned by x/y)' },
  ]);
  expect(conditionEvents([taken('a')], [taken('a')])).toEqual([]);
  expect(conditionEvents([taken('a')], [taken('a, b')])).toHaveLength(1);
  expect(conditionEvents([taken('a')], [c('Conflict', 'False', 'NoConflict')])).toEqual([]);
});

test('Scaled says from, to and the lag', () => {
  expect(scaledEvent(1, 3, 250, 100)).toEqual({ type: 'Normal', reason: 'Scaled', action: 'Scale', note: 'scaled workers from 1 to 3 (lag 250, target 100 per replica)' });
});

test('the events.k8s.io/v1 Event names the pool by uid, with a MicroTime and no core/v1-only fields', () => {
  const pool = { apiVersion: 'vendorfetch.io/v1alpha1', kind: 'VendorPool', metadata: { name: 'p', namespace: 'ns', uid: 'u' }, spec: {} } as VendorPoolObject;
  const e = eventObject(poolRef(pool), scaledEvent(1, 2, 5, 1), new Date('2025-01-01T00:00:00.123Z'), 'ctrl-0');
  expect(e).toEqual({
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: expect.stringMatching(/^p\.[0-9a-f]+$/), namespace: 'ns' },
    regarding: { apiVersion: 'vendorfetch.io/v1alpha1', kind: 'VendorPool', name: 'p', namespace: 'ns', uid: 'u' },
    type: 'Normal',
    reason: 'Scaled',
    action: 'Scale',
    note: 'scaled workers from 1 to 2 (lag 5, target 1 per replica)',
    eventTime: '2025-01-01T00:00:00.123000Z',
    reportingController: 'vendorfetch.io/controller',
    reportingInstance: 'ctrl-0',
  });
});
