import { createRollingWindow } from './rolling-window.js';

describe('rolling window limiter', () => {
  it('admits N, refuses the N+1th within the same 1000 ms', () => {
    const w = createRollingWindow(1000);
    for (let i = 0; i < 5; i++) expect(w.admit(i * 10, 5)).toEqual({ ok: true });
    const refused = w.admit(999, 5);
    expect(refused.ok).toBe(false);
    expect(w.maxInAnyWindow).toBe(5);
  });

  it('N then N more 1001 ms later is fine; max stays N', () => {
    const w = createRollingWindow(1000);
    for (let i = 0; i < 5; i++) expect(w.admit(0, 5).ok).toBe(true);
    for (let i = 0; i < 5; i++) expect(w.admit(1001, 5).ok).toBe(true);
    expect(w.maxInAnyWindow).toBe(5);
  });

  it('treats the window as half-open: t and t+1000 are apart, t and t+999.9 are together', () => {
    const a = createRollingWindow(1000);
    expect(a.admit(0, 1).ok).toBe(true);
    expect(a.admit(1000, 1).ok).toBe(true);
    const b = createRollingWindow(1000);
    expect(b.admit(0, 1).ok).toBe(true);
    expect(b.admit(999.9, 1).ok).toBe(false);
  });

  it('tells how long until a slot frees up', () => {
    const w = createRollingWindow(1000);
    w.admit(100, 2);
    w.admit(400, 2);
    expect(w.admit(700, 2)).toEqual({ ok: false, retryAfterMs: 400 });
    // After the first one expires (at 1100) a slot is free again.
    expect(w.admit(1100, 2).ok).toBe(true);
  });

  it('refused arrivals are not recorded (they do not push the window)', () => {
    const w = createRollingWindow(1000);
    w.admit(0, 1);
    for (let t = 100; t < 1000; t += 100) expect(w.admit(t, 1).ok).toBe(false);
    expect(w.admit(1000, 1).ok).toBe(true);
    expect(w.countAt(1000)).toBe(1);
  });

  it('measures the highest count in ANY window, including ones that straddle a fixed-second edge', () => {
    const w = createRollingWindow(1000);
    // 3 at the end of second 0 and 3 at the start of second 1: a fixed-window counter would say 3.
    for (const t of [900, 950, 990, 1010, 1050, 1100]) w.admit(t, null);
    expect(w.maxInAnyWindow).toBe(6);
    // Later, sparser traffic never lowers the max.
    for (const t of [3000, 3500, 4100]) w.admit(t, null);
    expect(w.maxInAnyWindow).toBe(6);
  });

  it('max equals a brute-force count over every window for random arrivals', () => {
    let seed = 42;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const w = createRollingWindow(1000);
    const times: number[] = [];
    let t = 0;
    for (let i = 0; i < 2000; i++) {
      t += rnd() * 40;
      times.push(t);
      w.admit(t, null);
    }
    let brute = 0;
    for (const end of times) brute = Math.max(brute, times.filter((x) => x > end - 1000 && x <= end).length);
    expect(w.maxInAnyWindow).toBe(brute);
  });

  it('reset forgets arrivals and the max', () => {
    const w = createRollingWindow(1000);
    w.admit(0, 1);
    w.reset();
    expect(w.maxInAnyWindow).toBe(0);
    expect(w.admit(1, 1).ok).toBe(true);
  });
});
