// VendorPool documents from YAML files (local mode): every *.yaml / *.yml in one folder, several
// documents per file allowed. A bad document is reported and skipped; the others still run.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { VendorPoolSpec } from '../core/vendorpool.js';
import { vendorPoolSchema } from './api-types.js';

export interface LoadedPool {
  /** "local/<name>": what workers get as VF_POOL and the registry records as owner. */
  key: string;
  name: string;
  file: string;
  spec: VendorPoolSpec;
}

export interface PoolFileError {
  file: string;
  message: string;
}

export const LOCAL_NAMESPACE = 'local';

export async function loadPoolFiles(dir: string): Promise<{ pools: LoadedPool[]; errors: PoolFileError[] }> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/i.test(f)).sort();
  const pools: LoadedPool[] = [];
  const errors: PoolFileError[] = [];
  for (const f of files) {
    const file = path.join(dir, f);
    let docs;
    try {
      docs = parseAllDocuments(await readFile(file, 'utf8'));
    } catch (err) {
      errors.push({ file, message: `cannot read: ${(err as Error).message}` });
      continue;
    }
    for (const [i, doc] of (Array.isArray(docs) ? docs : [docs]).entries()) {
      const where = docs.length > 1 ? `${file} (document ${i + 1})` : file;
      if (doc.errors.length > 0) {
        errors.push({ file: where, message: doc.errors.map((e) => e.message).join('; ') });
        continue;
      }
      const raw: unknown = doc.toJS();
      if (raw === null || raw === undefined) continue;
      const parsed = vendorPoolSchema.safeParse(raw);
      if (!parsed.success) {
        const message = parsed.error.issues.map((x) => `${x.path.join('.') || '(document)'}: ${x.message}`).join('; ');
        errors.push({ file: where, message });
        continue;
      }
      const name = parsed.data.metadata.name;
      if (pools.some((p) => p.name === name)) {
        errors.push({ file: where, message: `a VendorPool named "${name}" is already defined; this one is ignored` });
        continue;
      }
      pools.push({ key: `${LOCAL_NAMESPACE}/${name}`, name, file: where, spec: parsed.data.spec });
    }
  }
  return { pools, errors };
}
