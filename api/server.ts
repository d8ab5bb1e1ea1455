// Listening and draining, apart from main.ts so the drain is tested with real connections.
import type { Server } from 'node:http';
import type { Express } from 'express';

export async function listen(app: Express, port: number, host: string): Promise<Server> {
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  // Keep-alive longer than typical load balancers' idle timeout, so they close first.
  server.keepAliveTimeout = 65_000;
  return server;
}

/**
 * Stop accepting connections and let requests in flight finish; after `graceMs` the
 * connections still open are cut. Resolves with whether everything finished in time.
 * Idle keep-alive connections are closed at once; busy ones after their current response
 * (the app adds `Connection: close` while draining).
 */
export async function drain(server: Server, graceMs: number): Promise<boolean> {
  let inTime = true;
  const deadline = setTimeout(() => {
    inTime = false;
    server.closeAllConnections();
  }, graceMs);
  deadline.unref();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await closed;
  clearTimeout(deadline);
  return inTime;
}
