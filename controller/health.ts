// :8081 — /healthz (the process answers), /readyz (its dependencies answer), /metrics.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  /** Resolves to problems; empty means ready. */
  readiness: () => Promise<string[]>;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(o: HealthServerOptions): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    void (async () => {
      const url = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') return send(405, 'application/problem+json', JSON.stringify({ type: 'about:blank', title: 'Method Not Allowed', status: 405 }));
      if (url === '/healthz') return send(200, 'application/json', '{"status":"ok"}');
      if (url === '/readyz') {
        const problems = await o.readiness().catch((err: Error) => [err.message]);
        return send(problems.length === 0 ? 200 : 503, 'application/json', JSON.stringify({ status: problems.length === 0 ? 'ready' : 'not ready', problems }));
      }
      if (url === '/metrics') return send(200, o.registry.contentType, await o.registry.metrics());
      send(404, 'application/problem+json', JSON.stringify({ type: 'about:blank', title: 'Not Found', status: 404 }));
    })().catch(() => send(500, 'text/plain', 'error'));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
