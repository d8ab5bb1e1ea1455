// Applies the CustomResourceDefinitions found in a folder (server-side apply) and waits until
// the API server reports each one Established, so controller suites can use the kinds at once.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

const FIELD_MANAGER = 'vf-testenv';

interface Doc {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string };
}

/** The CRD documents of every .yaml/.yml/.json file directly in `dir` (other kinds ignored). */
export async function readCrds(dir: string): Promise<k8s.V1CustomResourceDefinition[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.(ya?ml|json)$/.test(n)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const crds: k8s.V1CustomResourceDefinition[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]?.message}`);
      const obj = doc.toJS() as Doc | null;
      if (obj?.kind === 'CustomResourceDefinition' && obj.metadata?.name) crds.push(obj as k8s.V1CustomResourceDefinition);
    }
  }
  return crds;
}

/** Apply every CRD in `dir`; resolves with their names once all are Established. */
export async function applyCrds(kubeconfigPath: string, dir: string, timeoutMs = 30_000): Promise<string[]> {
  const crds = await readCrds(dir);
  if (crds.length === 0) return [];
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  for (const crd of crds) {
    await objects.patch(crd, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
  }
  const names = crds.map((c) => c.metadata!.name!);
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const got = await ext.readCustomResourceDefinition({ name });
      const established = got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      if (established) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return names;
}
