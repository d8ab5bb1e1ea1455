// A thin Kubernetes REST client over node:https with the credentials of a KubeConfig. The
// generated client hides content types and subresources; the controller needs exactly those:
// server-side apply (application/apply-patch+yaml, fieldManager, force), JSON patches with a
// `test` op (optimistic concurrency), the /status subresource, and Table responses.
// Credentials are applied to every request, not once: with a KubeConfig from credentials.ts
// they rotate (token files re-read, exec/cloud tokens refreshed), and a 401 drops the cached
// ones and retries the request once — safe for any verb, since a request refused by
// authentication was never acted on.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  accept?: string;
  /** Abort after this long without socket activity. Default 10 000 ms. */
  timeoutMs?: number;
  /** Abort when this fires, however busy the socket (a deadline for the whole call). */
  signal?: AbortSignal;
}

export class KubeError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

export const isKubeError = (err: unknown, status?: number): err is KubeError =>
  err instanceof KubeError && (status === undefined || err.status === status);

export interface KubeClient {
  request<T = unknown>(req: KubeRequest): Promise<T>;
  readonly server: string;
}

export const CONTENT = {
  json: 'application/json',
  apply: 'application/apply-patch+yaml',
  merge: 'application/merge-patch+json',
  jsonPatch: 'application/json-patch+json',
  table: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
} as const;

export interface KubeClientOptions {
  /** Called on a 401 before the one retry: drop cached credentials (RotatingKubeConfig.invalidate). */
  invalidateCredentials?: () => void;
}

/** `kc`: a KubeConfig, or a RotatingKubeConfig (credentials.ts), whose invalidate runs on a 401. */
export function createKubeClient(source: KubeConfig | { kc: KubeConfig; invalidate(): void }, opts: KubeClientOptions = {}): KubeClient {
  const kc = 'kc' in source ? source.kc : source;
  const invalidate = opts.invalidateCredentials ?? ('kc' in source ? () => source.invalidate() : undefined);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const server = cluster.server.replace(/\/$/, '');
  // Per request: client-node's authenticators cache what may be cached (a token file for a
  // while, an exec credential until it expires); the TLS agent is cached by client-node.
  const options = async (): Promise<https.RequestOptions> => {
    const o: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(o);
    return o;
  };

  async function request<T>(req: KubeRequest, retried: boolean): Promise<T> {
    try {
      return await once<T>(req);
    } catch (err) {
      if (retried || !invalidate || !isKubeError(err, 401)) throw err;
      invalidate();
      return request<T>(req, true);
    }
  }

  async function once<T>(req: KubeRequest): Promise<T> {
    const url = new URL(server + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const payload = req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    const o = await options();
    const mod = url.protocol === 'http:' ? http : https;
    return new Promise<T>((resolve, reject) => {
      const r = mod.request(
        url,
        {
          ...o,
          method: req.method,
          headers: {
            ...(o.headers as Record<string, string> | undefined),
            accept: req.accept ?? CONTENT.json,
            ...(payload !== undefined ? { 'content-type': req.contentType ?? CONTENT.json, 'content-length': Buffer.byteLength(payload) } : {}),
          },
          timeout: req.timeoutMs ?? 10_000,
          ...(req.signal ? { signal: req.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = text;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch {
              /* not JSON: keep the text */
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(body as T);
            const st = (body ?? {}) as { reason?: string; message?: string };
            reject(new KubeError(status, st.reason ?? 'Unknown', `${req.method} ${req.path}: ${status} ${st.message ?? text}`, body));
          });
          res.on('error', reject);
        },
      );
      r.on('timeout', () => r.destroy(new Error(`${req.method} ${req.path}: timed out`)));
      r.on('error', reject);
      if (payload !== undefined) r.write(payload);
      r.end();
    });
  }

  return { server, request: (req) => request(req, false) };
}
