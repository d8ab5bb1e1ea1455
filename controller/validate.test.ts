import { crossPoolConflicts, validatePoolSpec } from './validate.js';

const vendor = { name: 'acme', url: 'http://acme.example/fetch', quota: { requestsPerSecond: 10 } };

test('a valid spec comes back with defaults', () => {
  const v = validatePoolSpec({ vendors: [vendor] });
  expect(v.ok).toBe(true);
  if (v.ok) expect(v.spec.workers.maxReplicas).toBe(10);
});

test('every problem is named with its path', () => {
  const v = validatePoolSpec({ vendors: [{ ...vendor, quota: { requestsPerSecond: 0 } }, { ...vendor, mode: 'async' }] });
  expect(v.ok).toBe(false);
  if (!v.ok) {
    expect(v.message).toContain('spec.vendors[0].quota.requestsPerSecond');
    expect(v.message).toContain('spec.vendors[1].callbackTimeoutSeconds');
  }
});

test('the earlier pool keeps a contested vendor name', () => {
  const a = { key: 'ns/a', createdAt: '2026-01-01T00:00:00Z', vendors: ['x', 'y'] };
  const b = { key: 'ns/b', createdAt: '2026-01-02T00:00:00Z', vendors: ['y', 'z'] };
  expect(crossPoolConflicts(a, [a, b]).size).toBe(0);
  expect([...crossPoolConflicts(b, [a, b])]).toEqual([['y', 'ns/a']]);
});

test('same creation time: the key decides, deterministically', () => {
  const a = { key: 'ns/a', createdAt: 't', vendors: ['x'] };
  const b = { key: 'ns/b', createdAt: 't', vendors: ['x'] };
  expect(crossPoolConflicts(a, [b]).size).toBe(0);
  expect(crossPoolConflicts(b, [a]).get('x')).toBe('ns/a');
});
