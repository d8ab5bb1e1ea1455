// The api's Prometheus endpoint on a port of its own (API_METRICS_PORT, default 8083), as the
// workers and the controller have: the public port sits behind the ingress, and metrics
// (vendor names, traffic, error rates) are for the cluster's Prometheus, not for the internet.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface ApiMetricsServer {
  port: number;
  close(): Promise<void>;
}

/** GET /metrics (Prometheus text); everything else 404. Port 0 picks a free one. */
export async function startApiMetricsServer(registry: Registry, port: number, host = '0.0.0.0'): Promise<ApiMetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text))
        .catch(() => res.writeHead(500).end());
      return;
    }
    res
      .writeHead(404, { 'content-type': 'application/problem+json' })
      .end(JSON.stringify({ type: '/problems/not-found', title: 'Not found', status: 404, detail: 'only GET /metrics is served here' }));
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
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
