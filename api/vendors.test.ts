// vendorLookup over a small in-process registry source (the real RegistryView is exercised by
// outage.test.ts with a real Redis FLUSHALL).
import type { RegistryEntry } from '../core/registry.js';
import { spec } from '../testing/api-app.js';
import { vendorLookup, type RegistrySnapshotSource } from './vendors.js';

const entry = (name: string): RegistryEntry => ({
  pool: 'local/p',
  spec: spec({ name, url: 'http://127.0.0.1:9/', quota: { requestsPerSecond: 1 } }),
});

/** Holds entries and notifies on change, as RegistryView does after a reload. */
function source(initial: string[]) {
  let entries: ReadonlyMap<string, RegistryEntry> = new Map(initial.map((n) => [n, entry(n)]));
  const listeners = new Set<(e: ReadonlyMap<string, RegistryEntry>) => void>();
  const src: RegistrySnapshotSource = {
    vendors: () => entries,
    onChange: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  const set = (names: string[]) => {
    entries = new Map(names.map((n) => [n, entry(n)]));
    for (const l of listeners) l(entries);
  };
  return { src, set };
}

test('an emptied registry is bridged by the last non-empty one for the grace period only', () => {
  const { src, set } = source(['acme']);
  let t = 0;
  const lookup = vendorLookup(src, { graceMs: 1000, now: () => t });
  expect(lookup.get('acme')?.spec.name).toBe('acme');
  expect(lookup.get('other')).toBeUndefined();

  t = 50_000; // long idle: no request needed before the loss
  set([]); // Redis lost its data
  t = 50_900;
  expect(lookup.get('acme')?.spec.name).toBe('acme');
  expect(lookup.get('other')).toBeUndefined();
  t = 51_001;
  expect(lookup.get('acme')).toBeUndefined();

  set(['other']); // re-published, with a change
  expect(lookup.get('acme')).toBeUndefined();
  expect(lookup.get('other')?.spec.name).toBe('other');
});

test('a vendor removed from a non-empty registry is unknown at once', () => {
  const { src, set } = source(['acme', 'beta']);
  const lookup = vendorLookup(src);
  expect(lookup.get('beta')).toBeDefined();
  set(['acme']);
  expect(lookup.get('beta')).toBeUndefined();
});

test('a registry that was never non-empty knows nothing', () => {
  const { src, set } = source([]);
  const lookup = vendorLookup(src);
  set([]);
  expect(lookup.get('acme')).toBeUndefined();
});
