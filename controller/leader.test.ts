// Pure parts of the elector. The elector itself runs against the real API server in
// e2e/controller/leader.test.ts (two processes, SIGKILL, SIGTERM).
import { DEFAULT_TIMINGS, leaseExpiresAt, mayAcquire, microTime, validateTimings } from './leader.js';

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

test("expiry counts from the holder's renewTime when it is earlier than our observation, never later", () => {
  const renewed = Date.UTC(2026, 0, 1, 0, 0, 10);
  const spec = { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: microTime(renewed) };
  // We saw the change 2 s after the holder wrote it: expiry from the renewal.
  expect(leaseExpiresAt(spec, renewed + 2000, renewed + 3000)).toBe(renewed + 15_000);
  expect(mayAcquire(spec, 'me', renewed + 2000, renewed + 15_000)).toBe(true);
  expect(mayAcquire(spec, 'me', renewed + 2000, renewed + 14_999)).toBe(false);
  // A holder clock ahead of ours (renewTime in our future) is not trusted.
  expect(leaseExpiresAt(spec, renewed - 5000, renewed - 4000)).toBe(renewed - 5000 + 15_000);
  // No or bad renewTime: client-go's observed time.
  expect(leaseExpiresAt({ ...spec, renewTime: 'garbage' }, 1000, 2000)).toBe(16_000);
});
