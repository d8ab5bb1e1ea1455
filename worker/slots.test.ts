// The process-wide cap on jobs in flight, shared by the vendor consumers.
import { createSlots } from './slots.js';

describe('createSlots', () => {
  it('hands out at most the free slots and wakes waiters when slots come back', async () => {
    const slots = createSlots(3);
    expect(await slots.take(2)).toBe(2);
    expect(await slots.take(5)).toBe(1);
    let got = -1;
    const waiting = slots.take(4).then((n) => (got = n));
    await new Promise((r) => setTimeout(r, 10));
    expect(got).toBe(-1);
    slots.give(2);
    await waiting;
    expect(got).toBe(2);
    slots.close();
    expect(await slots.take(1)).toBe(0);
  });
});
