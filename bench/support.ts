// Shared plumbing for the benchmarks: child programs started as a user would start them.
import { spawn, type ChildProcess } from 'node:child_process';
import { waitForPort } from '../e2e/support/ports.js';

export interface Program {
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Start `node <script>` with env; resolves once `port` accepts connections (if given). */
export async function startProgram(script: string, env: NodeJS.ProcessEnv, port?: number): Promise<Program> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (port !== undefined) await waitForPort(port, 30_000);
  return {
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;
