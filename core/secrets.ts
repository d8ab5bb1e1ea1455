// Where secrets (webhook signing keys) come from. Never from the registry or from code: the
// registry holds only references. Local mode reads the environment; on Kubernetes the api reads
// mounted files or the Secret itself (see api/main.ts).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SecretRef } from './vendorpool.js';

export interface SecretResolver {
  /** The secret's value, or undefined when it does not exist. */
  resolve(ref: SecretRef, namespace?: string): Promise<string | undefined>;
}

const envPart = (s: string): string => s.toUpperCase().replace(/[^A-Z0-9]/g, '_');

/** `{name: acme-webhook, key: secret}` → `VF_SECRET_ACME_WEBHOOK_SECRET`. */
export const secretEnvVar = (ref: SecretRef): string => `VF_SECRET_${envPart(ref.name)}_${envPart(ref.key)}`;

export const envSecrets = (env: NodeJS.ProcessEnv): SecretResolver => ({
  resolve: async (ref) => env[secretEnvVar(ref)],
});

/** Secrets mounted as files: `<dir>/<name>/<key>` (how a Kubernetes Secret volume lays them out). */
export const fileSecrets = (dir: string): SecretResolver => ({
  resolve: async (ref) => {
    try {
      return (await readFile(path.join(dir, ref.name, ref.key), 'utf8')).trim();
    } catch {
      return undefined;
    }
  },
});

/** First resolver that knows the secret wins. */
export const firstOf = (...resolvers: SecretResolver[]): SecretResolver => ({
  resolve: async (ref, ns) => {
    for (const r of resolvers) {
      const v = await r.resolve(ref, ns);
      if (v !== undefined) return v;
    }
    return undefined;
  },
});
