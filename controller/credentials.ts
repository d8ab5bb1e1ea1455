// Credentials that rotate. A KubeConfig's user is resolved again for every request (client-go's
// behaviour), not once per process:
//   - token files — the in-cluster projected service-account token, which the kubelet rewrites
//     well before it expires, and a kubeconfig's `token-file` — are re-read at most every
//     tokenFileTtlMs (client-go: 1 min) and at once after a 401;
//   - exec plugins and auth providers (EKS/GKE/AKS/OIDC tokens that expire) go through
//     client-node's own authenticators, which cache a credential until it expires; after a 401
//     they are rebuilt, so the next request runs the plugin again (client-go does the same).
// client-node alone reads a kubeconfig `token-file` once at load and never refreshes a cached
// exec token that the server refuses; both are what stops a long-running controller with 401s.
import { existsSync, readFileSync } from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig, type User } from '@kubernetes/client-node';
import { parse } from 'yaml';

/** The auth-provider name of users whose credentials this module resolves. */
export const ROTATING_PROVIDER = 'vendorfetch-rotating';
/** client-go's period for re-reading a token file. */
export const DEFAULT_TOKEN_FILE_TTL_MS = 60_000;

export interface RotatingKubeConfig {
  /** Use this KubeConfig everywhere (REST client, informers): it resolves credentials per request. */
  kc: KubeConfig;
  /** Drop every cached credential: the next request reads token files / runs plugins again. */
  invalidate(): void;
}

export interface RotatingOptions {
  /** User name → token file, for kubeconfig users with `token-file` (client-node keeps only the token read at load). */
  tokenFiles?: ReadonlyMap<string, string>;
  /** Default 60 000 ms. */
  tokenFileTtlMs?: number;
  now?: () => number;
}

type Opts = https.RequestOptions & { headers?: Record<string, string | string[] | number | undefined> };

interface Authenticator {
  isAuthProvider(user: User): boolean;
  applyAuthentication(user: User, opts: Opts): Promise<void>;
}

/** A KubeConfig like `source` whose users' credentials are resolved per request (see above). */
export function withRotatingCredentials(source: KubeConfig, o: RotatingOptions = {}): RotatingKubeConfig {
  const ttl = o.tokenFileTtlMs ?? DEFAULT_TOKEN_FILE_TTL_MS;
  const now = o.now ?? Date.now;
  const originals = new Map<string, User>();
  const tokenFileOf = new Map<string, string>();
  const fileCache = new Map<string, { token: string; readAt: number }>();
  const delegates = new Map<string, KubeConfig>();

  const users = source.getUsers().map((u): User => {
    const file = o.tokenFiles?.get(u.name) ?? (u.authProvider?.config?.tokenFile as string | undefined);
    const delegated = Boolean(u.exec) || (Boolean(u.authProvider) && !file);
    if (!file && !delegated) return u; // a static token or client certificate: nothing rotates here
    originals.set(u.name, u);
    if (file) tokenFileOf.set(u.name, file);
    // Keep TLS material and impersonation; the bearer token comes from the authenticator below.
    const { token: _t, exec: _e, authProvider: _a, ...rest } = u;
    return { ...rest, authProvider: { name: ROTATING_PROVIDER, config: {} } } as User;
  });

  /** client-node's authenticators for one original user, in a KubeConfig of its own (rebuilt on invalidate). */
  const delegate = (user: User): KubeConfig => {
    let kc = delegates.get(user.name);
    if (!kc) {
      kc = new KubeConfig();
      const cluster = source.getCurrentCluster();
      kc.loadFromOptions({
        clusters: cluster ? [cluster] : [],
        users: [user],
        contexts: [{ name: 'delegate', cluster: cluster?.name ?? '', user: user.name }],
        currentContext: 'delegate',
      });
      delegates.set(user.name, kc);
    }
    return kc;
  };

  const authenticator: Authenticator = {
    isAuthProvider: (user) => user?.authProvider?.name === ROTATING_PROVIDER,
    async applyAuthentication(user, opts) {
      opts.headers ??= {};
      const file = tokenFileOf.get(user.name);
      if (file) {
        let cached = fileCache.get(file);
        if (!cached || now() - cached.readAt >= ttl) {
          cached = { token: readFileSync(file, 'utf8').trim(), readAt: now() };
          fileCache.set(file, cached);
        }
        opts.headers.Authorization = `Bearer ${cached.token}`;
        return;
      }
      const original = originals.get(user.name);
      if (!original) return;
      const resolved: Opts = {};
      await delegate(original).applyToHTTPSOptions(resolved);
      const auth = resolved.headers?.Authorization;
      if (auth !== undefined) opts.headers.Authorization = auth as string;
      // Exec plugins may answer with a client certificate instead of (or besides) a token.
      if (resolved.cert && original.exec) opts.cert = resolved.cert;
      if (resolved.key && original.exec) opts.key = resolved.key;
    },
  };

  const kc = new KubeConfig();
  kc.addAuthenticator(authenticator as Parameters<KubeConfig['addAuthenticator']>[0]);
  kc.loadFromOptions({ clusters: source.getClusters(), users, contexts: source.getContexts(), currentContext: source.getCurrentContext() });
  return {
    kc,
    invalidate() {
      fileCache.clear();
      delegates.clear();
    },
  };
}

/**
 * The user name → token file map of kubeconfig files (`token-file`, relative to its file), in
 * KUBECONFIG order: the first file that names a user wins, as when client-node merges them.
 */
export function kubeconfigTokenFiles(files: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const file of files) {
    let doc: { users?: Array<{ name?: string; user?: { 'token-file'?: string } }> } | undefined;
    try {
      doc = parse(readFileSync(file, 'utf8')) as typeof doc;
    } catch {
      continue; // unreadable or not YAML: client-node has already said so, or skipped it too
    }
    for (const u of doc?.users ?? []) {
      const tf = u.user?.['token-file'];
      if (u.name && tf && !out.has(u.name)) out.set(u.name, path.resolve(path.dirname(file), tf));
    }
  }
  return out;
}

/**
 * KubeConfig.loadFromDefault() (KUBECONFIG, else ~/.kube/config, else in-cluster), with
 * rotating credentials. `kubeconfigEnv`: the KUBECONFIG variable (main.ts passes it).
 */
export function loadRotatingKubeConfig(kubeconfigEnv: string | undefined, o: Omit<RotatingOptions, 'tokenFiles'> = {}): RotatingKubeConfig {
  const source = new KubeConfig();
  source.loadFromDefault();
  const home = path.join(os.homedir(), '.kube', 'config');
  const files = kubeconfigEnv ? kubeconfigEnv.split(path.delimiter).filter(Boolean) : existsSync(home) ? [home] : [];
  return withRotatingCredentials(source, { ...o, tokenFiles: kubeconfigTokenFiles(files) });
}

/** One kubeconfig file, with rotating credentials (tests, tools). */
export function loadRotatingKubeConfigFromFile(file: string, o: Omit<RotatingOptions, 'tokenFiles'> = {}): RotatingKubeConfig {
  const source = new KubeConfig();
  source.loadFromFile(file);
  return withRotatingCredentials(source, { ...o, tokenFiles: kubeconfigTokenFiles([file]) });
}
