import { newRequestId } from './request-id.js';
import { isRequestId } from './submission.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('request ids are RFC 9562 version-7 UUIDs that isRequestId accepts', () => {
  for (let i = 0; i < 100; i++) {
    const id = newRequestId();
    expect(id).toMatch(V7);
    expect(isRequestId(id)).toBe(true);
  }
});

test('the first 48 bits are the Unix milliseconds, so ids of later milliseconds sort after', () => {
  const ms = Date.UTC(2026, 10, 21, 13, 30);
  const id = newRequestId(ms);
  expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
  expect(newRequestId(ms + 1) > newRequestId(ms)).toBe(true);
  expect(newRequestId(ms + 1000) > id).toBe(true);
});

test('ids of the same millisecond differ (random bits)', () => {
  const ms = Date.now();
  const ids = new Set(Array.from({ length: 10_000 }, () => newRequestId(ms)));
  expect(ids.size).toBe(10_000);
});
