// How the api looks vendors up: from the in-memory RegistryView (no Redis round trip per
// request), bridging a registry that is suddenly EMPTY.
//
// Why: if Redis loses its data (restart without persistence, FLUSHALL), the registry hash is
// gone until the owners re-publish it (every few seconds; they are level-triggered). Answering
// 422 "unknown vendor" to every client in that window would turn a Redis blip into client
// errors, so an empty registry is read as "unknown state" and the last non-empty one is used
// for `graceMs`. The price: deleting every pool at once keeps the old vendors accepted for
// that long (their jobs wait in the store and streams; nothing is lost).
import type { RegistryEntry } from '../core/registry.js';
import type { VendorLookup } from './deps.js';

export interface RegistrySnapshotSource {
  vendors(): ReadonlyMap<string, RegistryEntry>;
  /** Called after every reload that changed something (RegistryView.onChange). */
  onChange(listener: (entries: ReadonlyMap<string, RegistryEntry>) => void): () => void;
}

export function vendorLookup(view: RegistrySnapshotSource, opts: { graceMs?: number; now?: () => number } = {}): VendorLookup {
  const graceMs = opts.graceMs ?? 30_000;
  const now = opts.now ?? Date.now;
  let lastNonEmpty = view.vendors();
  let emptiedAt: number | undefined;
  view.onChange((entries) => {
    if (entries.size > 0) {
      lastNonEmpty = entries;
      emptiedAt = undefined;
    } else if (emptiedAt === undefined) {
      emptiedAt = now();
    }
  });
  return {
    get(vendor) {
      const entries = view.vendors();
      if (entries.size > 0) return entries.get(vendor);
      return emptiedAt !== undefined && now() - emptiedAt <= graceMs ? lastNonEmpty.get(vendor) : undefined;
    },
  };
}
