import type { VendorPoolObject } from './api-types.js';
import type { Condition } from './conditions.js';
import { degradedTransition, poolEventObject } from './events.js';

const c = (status: Condition['status'], reason: string): Condition => ({ type: 'Degraded', status, reason, message: `m-${reason}`, lastTransitionTime: 't' });

test('an Event only when Degraded turns True or changes its reason', () => {
  expect(degradedTransition(undefined, [c('True', 'NoWorkerStore')])).toEqual({ type: 'Warning', reason: 'NoWorkerStore', message: 'm-NoWorkerStore' });
  expect(degradedTransition([c('Unknown', 'Reconciling')], [c('True', 'NoWorkerStore')])?.reason).toBe('NoWorkerStore');
  expect(degradedTransition([c('True', 'NoWorkerStore')], [c('True', 'NoWorkerStore')])).toBeUndefined();
  expect(degradedTransition([c('True', 'NoWorkerStore')], [c('True', 'ApplyFailed')])?.reason).toBe('ApplyFailed');
  expect(degradedTransition([c('True', 'ApplyFailed')], [c('False', 'AsExpected')])).toBeUndefined();
});

test('the Event names the pool by uid and says who reported it', () => {
  const pool = { apiVersion: 'vendorfetch.io/v1alpha1', kind: 'VendorPool', metadata: { name: 'p', namespace: 'ns', uid: 'u' }, spec: {} } as VendorPoolObject;
  const e = poolEventObject(pool, { type: 'Warning', reason: 'NoWorkerStore', message: 'x' }, new Date('2025-01-01T00:00:00Z'), 'ctrl-0');
  expect(e.involvedObject).toEqual({ apiVersion: 'vendorfetch.io/v1alpha1', kind: 'VendorPool', name: 'p', namespace: 'ns', uid: 'u' });
  expect(e).toMatchObject({ type: 'Warning', reason: 'NoWorkerStore', metadata: { generateName: 'p.', namespace: 'ns' }, source: { component: 'vendorfetch-controller', host: 'ctrl-0' } });
});
