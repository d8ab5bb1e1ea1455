// The small HTTP listener each program runs beside its work, on a port of its own that no
// ingress exposes: /metrics for the cluster's Prometheus (vendor names, traffic and error rates
// are not for the internet) and the probes Kubernetes calls. One server for the api, the worker
// and the controller, so the three answer their probes alike.
//   GET /metrics  Prometheus text from the program's registry
//   GET /healthz  200 {"status":"ok"}: the process answers
//   GET /readyz   only with a `readiness` check: 200 when it finds no problems, else 503
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface ProbeServerOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default 0.0.0.0. */
  host?: string;
  registry: Registry;
  /** Resolves to the problems found (none: ready); a rejection is one problem. Unset: no /readyz. */
  readiness?: () => Promise<string[]>;
}

export interface ProbeServer {
  port: number;
  /** Idempotent. */
  close(): Promise<void>;
}

const problemJson = (status: number, title: string) => JSON.stringify({ type: 'about:blank', title, status });

export async function startProbeServer(o: ProbeServerOptions): Promise<ProbeServer> {
  const { registry, readiness } = o;
  const server = http.createServer((req, res) => {
    const send = (status: number, type: string, body: string) => res.writeHead(status, { 'content-type': type }).end(body);
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      return send(405, 'application/problem+json', problemJson(405, 'Method Not Allowed'));
    }
    if (path === '/metrics') {
      void registry.metrics().then(
        (text) => send(200, registry.contentType, text),
        () => send(500, 'application/problem+json', problemJson(500, 'Internal Server Error')),
      );
      return;
    }
    if (path === '/healthz') return send(200, 'application/json', '{"status":"ok"}');
    if (path === '/readyz' && readiness) {
      void readiness()
        .catch((err: unknown) => [err instanceof Error ? err.message : String(err)])
        .then((problems) =>
          send(problems.length === 0 ? 200 : 503, 'application/json', JSON.stringify({ status: problems.length === 0 ? 'ready' : 'not ready', problems })),
        );
      return;
    }
    send(404, 'application/problem+json', problemJson(404, 'Not Found'));
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '0.0.0.0', () => resolve());
  });
  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
