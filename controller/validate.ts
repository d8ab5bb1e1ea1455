// Validation the API server cannot do: the zod schema again (the CRD schema should already have
// caught everything, but a controller must not trust an old CRD or a local YAML file), and the
// cross-pool rule "a vendor name belongs to one pool". The earlier pool (by creation time, then
// key) keeps a contested name, so ownership never flips when the controller restarts or Redis
// loses the registry and pools are reconciled in a different order.
import { vendorPoolSpecSchema, type VendorPoolSpec } from '../core/vendorpool.js';

export type SpecValidation = { ok: true; spec: VendorPoolSpec } | { ok: false; message: string };

export function validatePoolSpec(spec: unknown): SpecValidation {
  const parsed = vendorPoolSpecSchema.safeParse(spec);
  if (parsed.success) return { ok: true, spec: parsed.data };
  const message = parsed.error.issues
    .map((i) => `spec${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`)
    .join('; ');
  return { ok: false, message };
}

export interface PoolClaim {
  /** "namespace/name" (local mode "local/name"). */
  key: string;
  /** RFC 3339 creation time; local mode uses file order instead (same string for all is fine). */
  createdAt: string;
  vendors: readonly string[];
}

const isEarlier = (a: PoolClaim, b: PoolClaim): boolean =>
  a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.key < b.key);

/** Vendor names of `self` claimed by an earlier pool, mapped to that pool's key. */
export function crossPoolConflicts(self: PoolClaim, others: readonly PoolClaim[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const other of others) {
    if (other.key === self.key || !isEarlier(other, self)) continue;
    for (const name of other.vendors) if (self.vendors.includes(name) && !out.has(name)) out.set(name, other.key);
  }
  return out;
}
