// Pure parts of the elector. The elector itself runs against the real API server in
// e2e/controller/leader.test.ts (two processes, SIGKILL, SIGTERM) and
// e2e/controller/leader-split-brain.test.ts (a slow or partitioned API server).
import { DEFAULT_TIMINGS, leadingUntil, leaseExpiresAt, mayAcquire, microTime, validateTimings } from './leader.js';

test("client-go's defaults are valid; every rule is checked", () => {
  expect(validateTimings(DEFAULT_TIMINGS)).toEqual([]);
  expect(validateTimings({ leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000 })).toEqual([
    'leaseDuration must be greater than renewDeadline',
  ]);
  expect(validateTimings({ leaseDurationMs: 15_000, renewDeadlineMs: 2400, retryPeriodMs: 2000 })).toEqual([
    'renewDeadline must be greater than 1.2 × retryPeriod',
  ]);
  expect(validateTimings({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 0 })).toContain('retryPeriod must be > 0');
  expect(validateTimings({ leaseDurationMs: 15_500, renewDeadlineMs: 10_000, retryPeriodMs: 2000 })).toHaveLength(1);
});

test('a free or own lease may be taken; a held one only after leaseDuration unchanged on our clock', () => {
  expect(mayAcquire(undefined, 'me', 0, 0)).toBe(true);
  expect(mayAcquire({ holderIdentity: '' }, 'me', 0, 0)).toBe(true);
  expect(mayAcquire({ holderIdentity: 'me', leaseDurationSeconds: 15 }, 'me', 0, 1)).toBe(true);
  const held = { holderIdentity: 'other', leaseDurationSeconds: 15 };
  expect(mayAcquire(held, 'me', 1000, 15_999)).toBe(false);
  expect(mayAcquire(held, 'me', 1000, 16_000)).toBe(true);
});

test('MicroTime has microseconds', () => {
  expect(microTime(Date.UTC(2026, 0, 1, 0, 0, 0, 123))).toBe('2026-01-01T00:00:00.123000Z');
});

test("expiry counts from our own observation of the record, never from the holder's renewTime (another clock)", () => {
  const renewed = Date.UTC(2026, 0, 1, 0, 0, 10);
  const spec = { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: microTime(renewed) };
  // We saw the change 2 s after the holder stamped it: expiry 15 s after we saw it.
  expect(leaseExpiresAt(spec, renewed + 2000)).toBe(renewed + 17_000);
  expect(mayAcquire(spec, 'me', renewed + 2000, renewed + 16_999)).toBe(false);
  expect(mayAcquire(spec, 'me', renewed + 2000, renewed + 17_000)).toBe(true);
  // A holder clock behind ours (renewTime long past) does not make its lease look expired.
  const stale = { ...spec, renewTime: microTime(renewed - 60_000) };
  expect(mayAcquire(stale, 'me', renewed, renewed + 1000)).toBe(false);
  expect(leaseExpiresAt({ ...spec, renewTime: 'garbage' }, 1000)).toBe(16_000);
});

test('a leader leads until renewDeadline after the start of its last successful attempt', () => {
  expect(leadingUntil(1000, DEFAULT_TIMINGS)).toBe(11_000);
  // The margin that keeps two leaders apart: a candidate waits leaseDuration from when it saw
  // that write, which landed after the attempt started.
  expect(DEFAULT_TIMINGS.leaseDurationMs - DEFAULT_TIMINGS.renewDeadlineMs).toBe(5000);
});
