import type { V1Pod } from '@kubernetes/client-node';
import { workerPodScheduling } from './pods.js';

const pod = (name: string, phase: string, scheduled?: { status: string; reason?: string; message?: string }, deleting = false): V1Pod =>
  ({
    metadata: { name, ...(deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}) },
    status: { phase, conditions: scheduled ? [{ type: 'PodScheduled', ...scheduled }] : [] },
  }) as unknown as V1Pod;

test('counts Pending pods and, of those, the unschedulable ones with the scheduler message', () => {
  const msg = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.";
  expect(
    workerPodScheduling([
      pod('a', 'Running', { status: 'True' }),
      pod('b', 'Pending', { status: 'False', reason: 'Unschedulable', message: msg }),
      pod('c', 'Pending'),
      pod('d', 'Pending', { status: 'False', reason: 'Unschedulable', message: 'x' }, true),
    ]),
  ).toEqual({ pending: 2, unschedulable: 1, message: `b: ${msg}` });
  expect(workerPodScheduling([])).toEqual({ pending: 0, unschedulable: 0 });
});
