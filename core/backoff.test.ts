import { backoffCeiling, nextBackoff } from './backoff.js';

const policy = { initialBackoffMs: 100, maxBackoffMs: 5_000 };

describe('nextBackoff', () => {
  it('doubles the step with every failure until the cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => backoffCeiling(a, policy))).toEqual([100, 200, 400, 800, 1600, 3200, 5000]);
  });

  it('keeps half the step fixed and randomises the other half', () => {
    expect(nextBackoff(3, policy, () => 0)).toBe(200);
    expect(nextBackoff(3, policy, () => 0.5)).toBe(300);
    expect(nextBackoff(3, policy, () => 0.999999)).toBe(400);
  });

  it('never exceeds maxBackoffMs, even for huge attempt numbers', () => {
    for (const attempt of [10, 100, 1_000, 1e9]) {
      const d = nextBackoff(attempt, policy, () => 0.999999);
      expect(d).toBeLessThanOrEqual(5_000);
      expect(d).toBeGreaterThanOrEqual(2_500);
    }
  });

  it('treats attempt numbers below 1 as the first retry', () => {
    expect(backoffCeiling(0, policy)).toBe(100);
    expect(backoffCeiling(-3, policy)).toBe(100);
  });

  it('spreads real random delays inside [step/2, step]', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const d = nextBackoff(2, policy);
      expect(d).toBeGreaterThanOrEqual(100);
      expect(d).toBeLessThanOrEqual(200);
      seen.add(d);
    }
    expect(seen.size).toBeGreaterThan(10);
  });

  it('clamps a misbehaving random source', () => {
    expect(nextBackoff(1, policy, () => 7)).toBe(100);
    expect(nextBackoff(1, policy, () => -1)).toBe(50);
  });
});
