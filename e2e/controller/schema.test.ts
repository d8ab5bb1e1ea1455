// One example set through both the zod schema (core/vendorpool.ts) and the real API server
// (the CRD in crds/, dry-run creates): both must accept and reject the same documents, the API
// server's message must name the problem, and both must fill in the same defaults.
// controller/crd-drift.test.ts compares the two schemas field by field without a server.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { paths, vendorPoolSchema } from '../../controller/api-types.js';
import { isKubeError } from '../../controller/kube.js';
import { createNamespace, deleteNamespace, describeWithKube, poolObject, REPO_ROOT, vendor } from './support.js';

const { describe: d, env } = await describeWithKube();

const base = () => ({
  vendors: [vendor('acme', { mode: 'sync', timeoutSeconds: 10, quota: { requestsPerSecond: 10, burst: 5, maxInFlight: 3 } })],
  workers: { minReplicas: 1, maxReplicas: 3 },
});
const asyncVendor = () => vendor('late', { mode: 'async', callbackTimeoutSeconds: 60, webhookSecretRef: { name: 'late-webhook', key: 'secret' } });

type Spec = Record<string, unknown>;
function withField(p: string, value: unknown, start: Spec = base()): Spec {
  const spec = structuredClone(start);
  const parts = p.split('.');
  let o: Record<string, unknown> = spec;
  for (const k of parts.slice(0, -1)) {
    o[k] ??= {};
    o = o[k] as Record<string, unknown>;
  }
  const last = parts.at(-1)!;
  if (value === undefined) delete o[last];
  else o[last] = value;
  return spec;
}

interface Case {
  name: string;
  spec: Spec;
  /** Text the API server's message must contain; absent for valid cases. */
  error?: string;
  poolName?: string;
}

const V = 'vendors.0';
const bounds: Array<[string, unknown, string]> = [
  [`${V}.name`, 'Bad_Name', 'spec.vendors[0].name'],
  [`${V}.name`, 'a'.repeat(64), 'spec.vendors[0].name'],
  [`${V}.mode`, 'webhook', 'spec.vendors[0].mode'],
  [`${V}.url`, 'ftp://acme.example/x', 'spec.vendors[0].url'],
  [`${V}.url`, 'not a url', 'spec.vendors[0].url'],
  [`${V}.timeoutSeconds`, 0, 'spec.vendors[0].timeoutSeconds'],
  [`${V}.timeoutSeconds`, 301, 'spec.vendors[0].timeoutSeconds'],
  [`${V}.timeoutSeconds`, 1.5, 'spec.vendors[0].timeoutSeconds'],
  [`${V}.timeoutSeconds`, '10', 'spec.vendors[0].timeoutSeconds'],
  [`${V}.callbackTimeoutSeconds`, 0, 'spec.vendors[0].callbackTimeoutSeconds'],
  [`${V}.callbackTimeoutSeconds`, 86_401, 'spec.vendors[0].callbackTimeoutSeconds'],
  [`${V}.webhookSecretRef`, { name: 'Bad_Secret', key: 'k' }, 'spec.vendors[0].webhookSecretRef.name'],
  [`${V}.webhookSecretRef`, { name: 'ok', key: 'bad key' }, 'spec.vendors[0].webhookSecretRef.key'],
  [`${V}.webhookSecretRef`, { name: 'ok' }, 'spec.vendors[0].webhookSecretRef.key'],
  [`${V}.quota`, undefined, 'spec.vendors[0].quota'],
  [`${V}.quota.requestsPerSecond`, 0, 'spec.vendors[0].quota.requestsPerSecond'],
  [`${V}.quota.requestsPerSecond`, 100_001, 'spec.vendors[0].quota.requestsPerSecond'],
  [`${V}.quota.burst`, 0, 'spec.vendors[0].quota.burst'],
  [`${V}.quota.maxInFlight`, -1, 'spec.vendors[0].quota.maxInFlight'],
  [`${V}.quota.maxInFlight`, 100_001, 'spec.vendors[0].quota.maxInFlight'],
  [`${V}.retry.maxAttempts`, 0, 'spec.vendors[0].retry.maxAttempts'],
  [`${V}.retry.maxAttempts`, 101, 'spec.vendors[0].retry.maxAttempts'],
  [`${V}.retry.initialBackoffMs`, 0, 'spec.vendors[0].retry.initialBackoffMs'],
  [`${V}.retry.maxBackoffMs`, 3_600_001, 'spec.vendors[0].retry.maxBackoffMs'],
  [`${V}.circuitBreaker.consecutiveFailures`, 0, 'spec.vendors[0].circuitBreaker.consecutiveFailures'],
  [`${V}.circuitBreaker.consecutiveFailures`, 1001, 'spec.vendors[0].circuitBreaker.consecutiveFailures'],
  [`${V}.circuitBreaker.halfOpenAfterSeconds`, 3601, 'spec.vendors[0].circuitBreaker.halfOpenAfterSeconds'],
  [`${V}.cleaning.drop`, [''], 'spec.vendors[0].cleaning.drop[0]'],
  [`${V}.cleaning.redact`, Array.from({ length: 201 }, (_, i) => `f${i}`), 'spec.vendors[0].cleaning.redact'],
  ['workers.minReplicas', -1, 'spec.workers.minReplicas'],
  ['workers.maxReplicas', 0, 'spec.workers.maxReplicas'],
  ['workers.maxReplicas', 1001, 'spec.workers.maxReplicas'],
  ['workers.targetLagPerReplica', 0, 'spec.workers.targetLagPerReplica'],
  ['workers.targetLagPerReplica', 1_000_001, 'spec.workers.targetLagPerReplica'],
  ['workers.scaleDownStabilizationSeconds', -1, 'spec.workers.scaleDownStabilizationSeconds'],
  ['workers.scaleDownStabilizationSeconds', 3601, 'spec.workers.scaleDownStabilizationSeconds'],
  ['workers.concurrency', 0, 'spec.workers.concurrency'],
  ['workers.concurrency', 1001, 'spec.workers.concurrency'],
  ['workers.image', '', 'spec.workers.image'],
  ['vendors', [], 'spec.vendors'],
  ['vendors', Array.from({ length: 101 }, (_, i) => vendor(`v${i}`)), 'spec.vendors'],
];

const cases: Case[] = [
  ...bounds.map(([p, value, error]) => ({ name: `${p} = ${JSON.stringify(value)?.slice(0, 30)}`, spec: withField(p, value), error })),
  // CEL rules, one case each (the message is the rule's own).
  { name: 'CEL: minReplicas > maxReplicas', spec: withField('workers', { minReplicas: 4, maxReplicas: 3 }), error: 'minReplicas must not exceed maxReplicas' },
  { name: 'CEL: async without callbackTimeoutSeconds', spec: { vendors: [{ ...asyncVendor(), callbackTimeoutSeconds: undefined }] }, error: 'async vendors need callbackTimeoutSeconds' },
  { name: 'CEL: async without webhookSecretRef', spec: { vendors: [{ ...asyncVendor(), webhookSecretRef: undefined }] }, error: 'async vendors need webhookSecretRef' },
  { name: 'CEL: duplicate vendor names', spec: { vendors: [vendor('twin'), vendor('twin')] }, error: 'vendor names must be unique within a pool' },
  { name: 'CEL: burst > requestsPerSecond', spec: withField(`${V}.quota`, { requestsPerSecond: 5, burst: 6 }), error: 'burst must not exceed requestsPerSecond' },
  { name: 'CEL: initialBackoffMs > maxBackoffMs', spec: withField(`${V}.retry`, { initialBackoffMs: 5000, maxBackoffMs: 1000 }), error: 'initialBackoffMs must not exceed maxBackoffMs' },
  { name: 'CEL: pool name is not a DNS label', spec: base(), poolName: 'dotted.name', error: 'metadata.name must be a DNS label' },
  // Valid documents, including edge values.
  { name: 'valid: minimal', spec: { vendors: [vendor('solo')] } },
  { name: 'valid: async vendor', spec: { vendors: [asyncVendor()] } },
  { name: 'valid: edges (min 0, burst = rps, window 0, 100 vendors)', spec: { vendors: Array.from({ length: 100 }, (_, i) => vendor(`v${i}`, { quota: { requestsPerSecond: 7, burst: 7 } })), workers: { minReplicas: 0, maxReplicas: 1, scaleDownStabilizationSeconds: 0 } } },
  { name: 'valid: resources and image', spec: withField('workers', { image: 'my/img:1', resources: { limits: { cpu: '500m' } } }) },
];

// Every shipped example must be valid for both.
for (const dir of ['examples/vendorpools', 'manifests/examples']) {
  for (const f of readdirSync(path.join(REPO_ROOT, dir)).filter((x) => /\.ya?ml$/.test(x) && x !== 'kustomization.yaml')) {
    for (const doc of parseAllDocuments(readFileSync(path.join(REPO_ROOT, dir, f), 'utf8'))) {
      const o = doc.toJS() as { kind?: string; metadata: { name: string }; spec: Spec } | null;
      if (o?.kind === 'VendorPool') cases.push({ name: `shipped example ${dir}/${f} (${o.metadata.name})`, spec: o.spec, poolName: o.metadata.name });
    }
  }
}

d('VendorPool schema: zod and the API server agree', () => {
  let ns = '';
  beforeAll(async () => {
    ns = await createNamespace(env!.kube, 'vf-schema');
  });
  afterAll(async () => {
    await deleteNamespace(env!.kube, ns);
  });

  async function serverVerdict(name: string, spec: Spec): Promise<{ ok: boolean; message: string; created?: { spec: unknown } }> {
    try {
      const created = await env!.kube.request<{ spec: unknown }>({ method: 'POST', path: paths.pools(ns), query: { dryRun: 'All' }, body: poolObject(ns, name, spec) });
      return { ok: true, message: '', created };
    } catch (err) {
      if (isKubeError(err, 422)) return { ok: false, message: err.message };
      throw err;
    }
  }

  test.each(cases)('$name', async (c) => {
    const name = c.poolName ?? 'example';
    const zod = vendorPoolSchema.safeParse(poolObject(ns, name, c.spec));
    const server = await serverVerdict(name, c.spec);
    expect({ zod: zod.success, server: server.ok }).toEqual({ zod: c.error === undefined, server: c.error === undefined });
    if (c.error !== undefined) expect(server.message).toContain(c.error);
    // Accepted: both fill in the same defaults.
    if (c.error === undefined && zod.success) expect(server.created?.spec).toEqual(JSON.parse(JSON.stringify(zod.data.spec)));
  });
});
