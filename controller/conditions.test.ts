import { initConditions, sameConditions, setCondition, type Condition } from './conditions.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:01:00Z');

test('first visit sets every type to Unknown with observedGeneration', () => {
  const c = initConditions([], 3, t0);
  expect(c.map((x) => x.type).sort()).toEqual(['Conflict', 'Degraded', 'Progressing', 'Ready']);
  expect(c.every((x) => x.status === 'Unknown' && x.observedGeneration === 3)).toBe(true);
  expect(c.every((x) => x.lastTransitionTime === t0.toISOString())).toBe(true);
});

test('initConditions keeps conditions that exist', () => {
  const ready: Condition = { type: 'Ready', status: 'True', reason: 'Ok', message: '', lastTransitionTime: 'x', observedGeneration: 1 };
  const c = initConditions([ready], 2, t0);
  expect(c.find((x) => x.type === 'Ready')).toBe(ready);
  expect(c).toHaveLength(4);
});

test('lastTransitionTime moves only when the status changes', () => {
  let c = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, 1, t0);
  c = setCondition(c, { type: 'Ready', status: 'False', reason: 'B', message: 'b' }, 2, t1);
  expect(c[0]).toMatchObject({ reason: 'B', observedGeneration: 2, lastTransitionTime: t0.toISOString() });
  c = setCondition(c, { type: 'Ready', status: 'True', reason: 'C', message: 'c' }, 2, t1);
  expect(c[0]!.lastTransitionTime).toBe(t1.toISOString());
  expect(c).toHaveLength(1);
});

test('sameConditions ignores order and notices any change', () => {
  const a = initConditions([], 1, t0);
  expect(sameConditions(a, [...a].reverse())).toBe(true);
  expect(sameConditions(a, setCondition(a, { type: 'Ready', status: 'Unknown', reason: 'Other', message: 'not yet reconciled' }, 1, t0))).toBe(false);
});
