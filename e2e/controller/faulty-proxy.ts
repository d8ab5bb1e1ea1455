// A TCP proxy in front of one server that a test can make slow or deaf, for one client only.
// It works below TLS (it forwards bytes), so a client keeps verifying the server's certificate:
// 127.0.0.1 is in the certificate whatever the port.
//   pass      — forwards every byte at once;
//   delay     — forwards each chunk, in order, `delayMs` after it arrived (both directions):
//               every request still succeeds, only late (a slow API server or network);
//   blackhole — swallows every byte; connections stay open (a partition: calls hang).
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export type ProxyMode = { kind: 'pass' } | { kind: 'delay'; delayMs: number } | { kind: 'blackhole' };

export interface FaultyProxy {
  /** host:port of the proxy (127.0.0.1). */
  readonly address: string;
  set(mode: ProxyMode): void;
  close(): Promise<void>;
}

export async function startFaultyProxy(target: { host: string; port: number }): Promise<FaultyProxy> {
  let mode: ProxyMode = { kind: 'pass' };
  const sockets = new Set<Socket>();

  // One direction of one connection; chunks keep their order because each waits behind the last.
  const pipe = (from: Socket, to: Socket): void => {
    let last = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      const m = mode;
      if (m.kind === 'blackhole') return;
      if (m.kind === 'pass') {
        last = last.then(() => void (to.destroyed || to.write(chunk)));
        return;
      }
      const due = Date.now() + m.delayMs;
      last = last.then(
        () =>
          new Promise<void>((resolve) =>
            setTimeout(() => {
              if (!to.destroyed) to.write(chunk);
              resolve();
            }, due - Date.now()),
          ),
      );
    });
    from.on('end', () => void last.then(() => to.end()));
  };

  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      // A reset on one side closes the other; errors are the point of this proxy, not failures.
      s.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    address: `127.0.0.1:${port}`,
    set(m) {
      mode = m;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
