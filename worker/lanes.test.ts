import type { Priority } from '../core/job.js';
import { createLanePicker } from './lanes.js';

const tally = (plans: Array<Map<Priority, number>>) => {
  const t: Record<Priority, number> = { high: 0, normal: 0, low: 0 };
  for (const p of plans) for (const [l, n] of p) t[l] += n;
  return t;
};

test('with every lane busy, each 10 one-slot reads give exactly 6 high, 3 normal, 1 low, interleaved', () => {
  const picker = createLanePicker();
  const seq = Array.from({ length: 20 }, () => [...picker.plan(1).keys()][0]);
  expect(tally(seq.map((l) => new Map([[l!, 1]])))).toEqual({ high: 12, normal: 6, low: 2 });
  for (let i = 0; i < 20; i += 10) expect(seq.slice(i, i + 10).filter((l) => l === 'low')).toHaveLength(1);
  // No run of three highs: normal and low are spread in, not held to the end.
  expect(seq.join(',')).not.toMatch(/high,high,high/);
});

test('a large read is shared by weight; the shares hold across reads of any size', () => {
  const picker = createLanePicker();
  expect(tally([picker.plan(10)])).toEqual({ high: 6, normal: 3, low: 1 });
  expect(tally([picker.plan(3), picker.plan(4), picker.plan(3)])).toEqual({ high: 6, normal: 3, low: 1 });
});

test('empty lanes give their share to the others (work-conserving), and low alone gets everything', () => {
  const picker = createLanePicker();
  expect(tally([picker.plan(8, new Set<Priority>(['high']))])).toEqual({ high: 0, normal: 6, low: 2 });
  expect(tally([picker.plan(5, new Set<Priority>(['high', 'normal']))])).toEqual({ high: 0, normal: 0, low: 5 });
  expect(picker.plan(5, new Set<Priority>(['high', 'normal', 'low'])).size).toBe(0);
});
