// The CRD's OpenAPI schema and the zod schemas (core/vendorpool.ts, plus the Kubernetes-only
// pod settings of spec.workers in controller/worker-pod.ts) must not drift. This test
// walks both, field by field, and compares every bound, enum, pattern, required list and
// default. The cross-field rules (zod refines ↔ CEL rules) cannot be compared this way; the
// suite in e2e/controller/ runs one example set through zod and the real API server for those.
import { z } from 'zod';
import { vendorPoolSpecSchema } from '../core/vendorpool.js';
import { loadCrd } from './crd-schema.js';
import { workerPodSchema } from './worker-pod.js';

type Schema = Record<string, unknown> & { properties?: Record<string, Schema>; items?: Schema };

const BOUNDS = ['type', 'minimum', 'maximum', 'minLength', 'maxLength', 'pattern', 'enum', 'minItems', 'maxItems'] as const;

/** A CRD default of `{}` means "every child's default": expand it to compare with zod's. */
function effectiveDefault(s: Schema): unknown {
  if (s.default === undefined) return undefined;
  if (s.type === 'object' && s.properties && typeof s.default === 'object' && Object.keys(s.default as object).length === 0) {
    const out: Record<string, unknown> = {};
    for (const [k, child] of Object.entries(s.properties)) {
      const d = effectiveDefault(child);
      if (d !== undefined) out[k] = d;
    }
    return out;
  }
  return s.default;
}

function compare(zodNode: Schema, crdNode: Schema, at: string, problems: string[]): void {
  for (const key of BOUNDS) {
    if (at.endsWith('.url') && key === 'pattern') continue; // zod: format uri; CRD: an http(s) URL pattern
    if (JSON.stringify(zodNode[key]) !== JSON.stringify(crdNode[key])) {
      problems.push(`${at}: ${key} zod=${JSON.stringify(zodNode[key])} crd=${JSON.stringify(crdNode[key])}`);
    }
  }
  const req = (s: Schema) => JSON.stringify([...((s.required as string[] | undefined) ?? [])].sort());
  if (req(zodNode) !== req(crdNode)) problems.push(`${at}: required zod=${req(zodNode)} crd=${req(crdNode)}`);
  if (JSON.stringify(zodNode.default) !== JSON.stringify(effectiveDefault(crdNode))) {
    problems.push(`${at}: default zod=${JSON.stringify(zodNode.default)} crd=${JSON.stringify(effectiveDefault(crdNode))}`);
  }
  const zp = zodNode.properties ?? {};
  const cp = crdNode.properties ?? {};
  if (!crdNode['x-kubernetes-preserve-unknown-fields']) {
    const names = new Set([...Object.keys(zp), ...Object.keys(cp)]);
    for (const n of names) {
      if (!zp[n] || !cp[n]) problems.push(`${at}.${n}: only in ${zp[n] ? 'zod' : 'crd'}`);
      else compare(zp[n], cp[n], `${at}.${n}`, problems);
    }
  }
  if (zodNode.items && crdNode.items) compare(zodNode.items, crdNode.items, `${at}[]`, problems);
}

/** spec as the two zod schemas describe it together: core's spec, workers extended with the pod settings. */
function zodSpec(): Schema {
  const spec = z.toJSONSchema(vendorPoolSpecSchema, { io: 'input' }) as Schema;
  const pod = z.toJSONSchema(workerPodSchema, { io: 'input' }) as Schema;
  const workers = spec.properties!.workers!;
  workers.properties = { ...workers.properties, ...pod.properties };
  return spec;
}

test('every field of spec has the same bounds, enums, patterns, required lists and defaults', () => {
  const zodSchema = zodSpec();
  const crd = loadCrd().spec.versions[0]!.schema.openAPIV3Schema as Schema;
  const problems: string[] = [];
  compare(zodSchema, crd.properties!.spec!, 'spec', problems);
  expect(problems).toEqual([]);
});

test('the check notices drift (a changed bound is reported)', () => {
  const zodSchema = zodSpec();
  const crd = loadCrd().spec.versions[0]!.schema.openAPIV3Schema as Schema;
  const spec = crd.properties!.spec!;
  (spec.properties!.workers!.properties!.maxReplicas as Schema).maximum = 999;
  const problems: string[] = [];
  compare(zodSchema, spec, 'spec', problems);
  expect(problems).toEqual(['spec.workers.maxReplicas: maximum zod=1000 crd=999']);
});

test('the check covers the pod settings too (a changed enum is reported)', () => {
  const crd = loadCrd().spec.versions[0]!.schema.openAPIV3Schema as Schema;
  const spec = crd.properties!.spec!;
  (spec.properties!.workers!.properties!.logLevel as Schema).enum = ['info'];
  const problems: string[] = [];
  compare(zodSpec(), spec, 'spec', problems);
  expect(problems).toEqual([expect.stringMatching(/^spec\.workers\.logLevel: enum /)]);
});

test('every zod refine has a CEL rule with the same message', () => {
  const crdText = JSON.stringify(loadCrd());
  for (const message of [
    'minReplicas must not exceed maxReplicas',
    'async vendors need callbackTimeoutSeconds',
    'async vendors need webhookSecretRef',
    'vendor names must be unique within a pool',
    'burst must not exceed requestsPerSecond',
    'initialBackoffMs must not exceed maxBackoffMs',
  ]) {
    expect(crdText).toContain(message);
  }
});
