// `kubectl port-forward` to 127.0.0.1 on a free port: the one way to reach a Service that works
// on every provider (kind's Service addresses are not routed to the host), and it keeps test
// traffic on loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { clusterEnv } from './support.js';

export interface PortForward {
  /** http://127.0.0.1:<port> */
  url: string;
  close(): void;
}

/** Forward a random local port to `target` (e.g. svc/vendorfetch-api) port `port`. */
export function portForward(namespace: string, target: string, port: number): Promise<PortForward> {
  const env = clusterEnv();
  const child: ChildProcess = spawn(
    path.join(env.bin, 'kubectl'),
    [`--kubeconfig=${env.kubeconfig}`, '-n', namespace, 'port-forward', '--address', '127.0.0.1', target, `:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`port-forward to ${target}:${port} did not start in 30 s: ${out}`)), 30_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill();
      reject(err);
    };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = out.match(/Forwarding from 127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ url: `http://127.0.0.1:${m[1]}`, close: () => child.kill() });
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('exit', (code) => fail(new Error(`port-forward to ${target}:${port} exited (${code}): ${out}`)));
  });
}

/**
 * A port-forward that survives the pod behind it going away (kubectl port-forward sticks to one
 * pod): `url()` re-establishes it when the last request failed to connect.
 */
export class ResilientForward {
  private current: PortForward | undefined;
  constructor(
    private readonly namespace: string,
    private readonly target: string,
    private readonly port: number,
  ) {}

  async url(): Promise<string> {
    this.current ??= await portForward(this.namespace, this.target, this.port);
    return this.current.url;
  }

  /** Drop the forward after a connection error; the next url() makes a new one. */
  reset(): void {
    this.current?.close();
    this.current = undefined;
  }

  async fetch(pathAndQuery: string, init?: RequestInit): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fetch(`${await this.url()}${pathAndQuery}`, { ...init, signal: AbortSignal.timeout(15_000) });
      } catch (err) {
        this.reset();
        if (attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
      }
    }
  }

  close(): void {
    this.reset();
  }
}
