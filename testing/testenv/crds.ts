// Applies the CustomResourceDefinitions found in a folder (server-side apply) and waits until
// the API server reports each one Established, so controller suites can use the kinds at once.
import { readdir, readFile } from 'node:fs/promises';
import https from 'node:https';
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

export interface CrdResult {
  /** CRDs applied and Established. */
  established: string[];
  /** CRDs the API server rejected or that did not become Established, with the reason. */
  failed: { name: string; error: string }[];
}

/**
 * Server-side apply every CRD in `dir` and wait until each is Established. A rejected CRD does
 * not stop the others; it is reported in `failed` with the API server's message.
 */
export async function applyCrds(kubeconfigPath: string, dir: string, timeoutMs = 30_000): Promise<CrdResult> {
  const result: CrdResult = { established: [], failed: [] };
  const crds = await readCrds(dir);
  if (crds.length === 0) return result;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const applied: string[] = [];
  for (const crd of crds) {
    const name = crd.metadata!.name!;
    try {
      await applyRaw(kc, crd);
      applied.push(name);
    } catch (err) {
      result.failed.push({ name, error: apiErrorMessage(err) });
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (const name of applied) {
    for (;;) {
      const got = await ext.readCustomResourceDefinition({ name });
      const conditions = got.status?.conditions ?? [];
      if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) {
        result.established.push(name);
        break;
      }
      if (Date.now() > deadline) {
        const why = conditions.map((c) => `${c.type}=${c.status} ${c.message ?? ''}`.trim()).join('; ');
        result.failed.push({ name, error: `not Established after ${timeoutMs} ms (${why || 'no conditions'})` });
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return result;
}

/**
 * Server-side apply of the CRD exactly as written. (client-node's typed KubernetesObjectApi
 * re-serialises through its models and silently drops `x-kubernetes-*` fields such as the CEL
 * rules, so it cannot be used for CRDs.)
 */
async function applyRaw(kc: k8s.KubeConfig, crd: { metadata?: { name?: string } }): Promise<void> {
  const server = kc.getCurrentCluster()!.server.replace(/\/$/, '');
  const url = new URL(`${server}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata!.name!}`);
  url.searchParams.set('fieldManager', FIELD_MANAGER);
  url.searchParams.set('force', 'true');
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const body = JSON.stringify(crd);
  await new Promise<void>((resolve, reject) => {
    const req = https.request(
      url,
      {
        ...opts,
        method: 'PATCH',
        headers: { ...(opts.headers as Record<string, string>), 'content-type': 'application/apply-patch+yaml', 'content-length': Buffer.byteLength(body) },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          if ((res.statusCode ?? 0) < 300) return resolve();
          let message = text;
          try {
            message = (JSON.parse(text) as { message?: string }).message ?? text;
          } catch {
            // not JSON
          }
          reject(new Error(`${res.statusCode}: ${message}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('applying the CRD timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The API server's own message from a client-node error (its Status body), else the error text. */
export function apiErrorMessage(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    const body: unknown = err.body;
    try {
      const status = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string };
      if (status?.message) return `${err.code}: ${status.message}`;
    } catch {
      // not JSON
    }
    return `${err.code}: ${String(body)}`;
  }
  return err instanceof Error ? err.message : String(err);
}
