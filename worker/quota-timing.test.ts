// The quota gate's timing estimates, on made-up clocks: every time below is chosen, none read.
import { earliestLocal, nextAskMs, RoundTrips, settleBackdateUs, settledEntryAt, untilStampMs } from './quota-timing.js';

// A script sent at 100 ms on this clock, answered at 104 ms; Redis read 5 000 000 µs in between.
const at = { sentAt: 100, recvAt: 104, nowUs: 5_000_000 };

describe('where a Redis stamp falls on this clock', () => {
  test('at the earliest: as if Redis read its time the moment the script went out', () => {
    expect(earliestLocal(at, 5_000_000)).toBe(100);
    expect(earliestLocal(at, 5_030_000)).toBe(130); // a reservation 30 ms ahead
  });

  test('a reserved slot is handed over once its stamp has surely come, never before', () => {
    // Stamp 30 ms after Redis' now; Redis read before the answer came (104): surely come at 134.
    expect(untilStampMs(at, 5_030_000, 104)).toBe(30);
    expect(untilStampMs(at, 5_030_000, 120)).toBe(14);
    // A stamp at Redis' now, handled later: no wait.
    expect(untilStampMs(at, 5_000_000, 110)).toBeLessThanOrEqual(0);
  });
});

/** A call sent at `sentAt` and answered `ms` later. */
const answered = (ms: number, sentAt = 0) => ({ sentAt, endedAt: sentAt + ms, answered: true });

describe('the answer floor of a vendor', () => {
  test('is 0 until 8 round trips are known', () => {
    const rtts = new RoundTrips(64);
    for (let i = 0; i < 7; i++) rtts.record(answered(30));
    expect(rtts.answerFloorMs()).toBe(0);
    rtts.record(answered(30));
    expect(rtts.answerFloorMs()).toBe(29); // the fastest, less 1 ms for the request's way there
  });

  test('is 0 while round trips are still falling (fewer than 3 within 2 ms of the fastest)', () => {
    const rtts = new RoundTrips(64);
    for (let i = 0; i < 8; i++) rtts.record(answered(70 - 5 * i)); // 70, 65, … 35
    expect(rtts.answerFloorMs()).toBe(0);
    rtts.record(answered(36));
    rtts.record(answered(37));
    expect(rtts.answerFloorMs()).toBe(34);
  });

  test('counts from when the request reached the socket, and ignores calls the vendor never answered', () => {
    const rtts = new RoundTrips(64);
    for (let i = 0; i < 8; i++) rtts.record({ sentAt: 0, wireAt: 50, endedAt: 80, answered: true }); // 50 ms connecting
    rtts.record({ sentAt: 0, endedAt: 1, answered: false }); // a refused connection: no sample
    expect(rtts.answerFloorMs()).toBe(29);
  });

  test('remembers only the last `size` round trips (at least 8)', () => {
    const rtts = new RoundTrips(8);
    for (let i = 0; i < 8; i++) rtts.record(answered(10));
    for (let i = 0; i < 8; i++) rtts.record(answered(40)); // the 10 ms ones are forgotten
    expect(rtts.answerFloorMs()).toBe(39);
    const tiny = new RoundTrips(2); // raised to 8: two samples never make a floor
    for (let i = 0; i < 8; i++) tiny.record(answered(20));
    expect(tiny.answerFloorMs()).toBe(19);
  });
});

describe('where a settled call moves its log entry', () => {
  const margin = 5;

  test('stays at its stamp when the latest arrival lies within the margin', () => {
    // Granted at 100, answered at 131, the vendor answers no faster than 30 ms: it had the call by 101.
    expect(settledEntryAt(131, 30, 100, margin)).toBeUndefined();
    expect(settledEntryAt(135, 30, 100, margin)).toBeUndefined(); // by 105: exactly the margin
  });

  test('moves to the latest arrival less the margin beyond it', () => {
    expect(settledEntryAt(160, 0, 100, margin)).toBe(155); // no floor known: it may have arrived at 160
    expect(settledEntryAt(160, 30, 100, margin)).toBe(125);
  });

  test('a grant whose local time is unknown (given up, never handed over) always moves', () => {
    expect(settledEntryAt(160, 0, Number.NEGATIVE_INFINITY, margin)).toBe(155);
  });

  test('the back-date sent to Redis: from when the settle goes out, never into the future', () => {
    expect(settleBackdateUs(155, 160)).toBe(5000);
    expect(settleBackdateUs(170, 160)).toBe(0);
    expect(settleBackdateUs(159.9996, 160)).toBe(0); // rounded to whole µs
    // Not moved: a day back, so max(stamp, now − back-date) is the stamp.
    expect(settleBackdateUs(undefined, 160)).toBe(86_400_000_000);
  });
});

describe('how long a waiter sleeps before asking again', () => {
  const opts = { reserveAheadUs: 15_000, recheckMs: 1000 };

  test('until the next rate slot is within the reservation horizon, plus jitter', () => {
    expect(nextAskMs({ waitUs: 50_250, why: 'rate' }, opts, 0)).toBe(36); // ⌈35.25⌉
    expect(nextAskMs({ waitUs: 50_250, why: 'rate' }, opts, 1.5)).toBe(37.5);
    expect(nextAskMs({ waitUs: 10_000, why: 'rate' }, opts, 0)).toBe(0);
  });

  test('a pause is waited out in full (no reservation ahead of a pause)', () => {
    expect(nextAskMs({ waitUs: 400_000, why: 'pause' }, opts, 0)).toBe(400);
  });

  test('a waiter blocked by maxInFlight asks again at the lease expiry, at most after recheckMs', () => {
    expect(nextAskMs({ waitUs: 300_000, why: 'inflight' }, opts, 0)).toBe(300);
    expect(nextAskMs({ waitUs: 60_000_000, why: 'inflight' }, opts, 2)).toBe(1000);
  });
});
