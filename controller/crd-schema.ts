// Reads the VendorPool CRD from crds/ (tests, the bench and the drift check use it).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const CRD_FILE = 'crds/vendorpools.vendorfetch.io.yaml';

/** Finds the repository root from this file (works from controller/ and dist/controller/). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      readFileSync(path.join(dir, CRD_FILE));
      return dir;
    } catch {
      dir = path.dirname(dir);
    }
  }
  throw new Error(`cannot find ${CRD_FILE} above ${fileURLToPath(import.meta.url)}`);
}

export interface CrdDocument {
  spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: Record<string, unknown> } }> };
  [k: string]: unknown;
}

export function loadCrd(root = repoRoot()): CrdDocument {
  return parse(readFileSync(path.join(root, CRD_FILE), 'utf8')) as CrdDocument;
}
