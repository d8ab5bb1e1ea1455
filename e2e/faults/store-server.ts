// A private MongoDB-wire store (FerretDB, the test environment's build) that a fault test can
// freeze, kill and start again on the same port and data: the shared one of the test run must
// not be touched by a test that breaks its store on purpose.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '../../testing/ports.js';

/** The FerretDB binary of the test environment, or undefined when there is none (VF_TESTENV_BIN). */
export function ferretBinary(): string | undefined {
  const bin = process.env.VF_TESTENV_BIN && path.join(process.env.VF_TESTENV_BIN, 'ferretdb');
  return bin && existsSync(bin) ? bin : undefined;
}

export interface StoreServer {
  /** mongodb://127.0.0.1:<port>/<db> — the same across restarts. */
  url: string;
  /** The server's process id while it runs (benchmarks read its CPU time). */
  readonly pid: number | undefined;
  /** SIGSTOP: the process stays, its sockets stay open, nothing is answered (a hung server). */
  freeze(): void;
  /** SIGCONT after freeze(). */
  thaw(): void;
  /** SIGKILL: connections drop, new ones are refused. */
  kill(): Promise<void>;
  /** Start again on the same port and data (after kill). */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startStoreServer(binary: string, db: string): Promise<StoreServer> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-faults-ferret-'));
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const s: StoreServer = {
    url: `mongodb://127.0.0.1:${port}/${db}`,
    get pid() {
      return alive() ? child!.pid : undefined;
    },
    freeze: () => void child?.kill('SIGSTOP'),
    thaw: () => void child?.kill('SIGCONT'),
    async kill() {
      if (alive()) child!.kill('SIGKILL');
      await exited;
    },
    async start() {
      child = spawn(binary, ['--listen-addr', `127.0.0.1:${port}`, '--sqlite-dir', dir, '--log-level', 'error'], { stdio: 'ignore' });
      const c = child;
      exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      await waitForPort(port, 30_000);
    },
    async close() {
      if (alive()) child!.kill('SIGKILL'); // frozen or not
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
  await s.start();
  return s;
}
