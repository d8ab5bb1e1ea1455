import type { RegistryEntry } from '../core/registry.js';
import { spec } from './test-support.js';
import { vendorLookup } from './vendors.js';

const entry = (name: string): RegistryEntry => ({
  pool: 'local/p',
  spec: spec({ name, url: 'http://127.0.0.1:9/', quota: { requestsPerSecond: 1 } }),
});

test('an empty registry is bridged by the last non-empty one for the grace period only', () => {
  let entries = new Map([['acme', entry('acme')]]);
  let t = 0;
  const lookup = vendorLookup({ vendors: () => entries }, { graceMs: 1000, now: () => t });
  expect(lookup.get('acme')?.spec.name).toBe('acme');
  expect(lookup.get('other')).toBeUndefined();

  entries = new Map(); // Redis lost its data
  t = 900;
  expect(lookup.get('acme')?.spec.name).toBe('acme');
  t = 1001;
  expect(lookup.get('acme')).toBeUndefined();

  entries = new Map([['other', entry('other')]]); // re-published, with a change
  expect(lookup.get('acme')).toBeUndefined();
  expect(lookup.get('other')?.spec.name).toBe('other');
});

test('a vendor removed from a non-empty registry is unknown at once', () => {
  let entries = new Map([
    ['acme', entry('acme')],
    ['beta', entry('beta')],
  ]);
  const lookup = vendorLookup({ vendors: () => entries });
  expect(lookup.get('beta')).toBeDefined();
  entries = new Map([['acme', entry('acme')]]);
  expect(lookup.get('beta')).toBeUndefined();
});
