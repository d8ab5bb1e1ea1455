import { desiredReplicas, recommendReplicas, type Recommendation } from './scaling.js';

const spec = { minReplicas: 1, maxReplicas: 5, targetLagPerReplica: 100, scaleDownStabilizationSeconds: 60 };

describe('recommendReplicas', () => {
  test('ceil(lag / target), clamped to min..max', () => {
    expect(recommendReplicas(0, spec)).toBe(1);
    expect(recommendReplicas(1, spec)).toBe(1);
    expect(recommendReplicas(101, spec)).toBe(2);
    expect(recommendReplicas(300, spec)).toBe(3);
    expect(recommendReplicas(10_000, spec)).toBe(5);
  });
  test('min 0 lets an idle pool scale to zero; bad lag counts as 0', () => {
    expect(recommendReplicas(0, { ...spec, minReplicas: 0 })).toBe(0);
    expect(recommendReplicas(Number.NaN, spec)).toBe(1);
    expect(recommendReplicas(-5, spec)).toBe(1);
  });
});

describe('desiredReplicas (scale-down stabilisation)', () => {
  test('scales up at once', () => {
    const d = desiredReplicas(450, spec, [{ at: 0, replicas: 1 }], 1000);
    expect(d.replicas).toBe(5);
  });
  test('holds the highest recommendation within the window, then drops', () => {
    let history: Recommendation[] = [];
    let t = 0;
    ({ history } = desiredReplicas(400, spec, history, t));
    t += 30_000;
    const during = desiredReplicas(0, spec, history, t);
    expect(during.recommended).toBe(1);
    expect(during.replicas).toBe(4);
    t += 31_000; // 61 s after the peak: out of the window
    const after = desiredReplicas(0, spec, during.history, t);
    expect(after.replicas).toBe(1);
    expect(after.history.every((r) => r.at > t - 60_000)).toBe(true);
  });
  test('window 0 follows the lag directly', () => {
    const s = { ...spec, scaleDownStabilizationSeconds: 0 };
    const { history } = desiredReplicas(500, s, [], 0);
    expect(desiredReplicas(0, s, history, 1).replicas).toBe(1);
  });
  test('a lowered max applies to remembered recommendations too', () => {
    const { history } = desiredReplicas(500, spec, [], 0);
    expect(desiredReplicas(0, { ...spec, maxReplicas: 2 }, history, 1000).replicas).toBe(2);
  });
});
