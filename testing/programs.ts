// vendorfetch programs as child processes, started from dist/ exactly as a user starts them,
// with their JSON log lines captured so suites can assert on what each process did.
import { spawn, type ChildProcess } from 'node:child_process';
import { waitForPort } from './ports.js';

export interface RunningProgram {
  name: string;
  child: ChildProcess;
  /** Parsed JSON log lines (non-JSON lines are kept as {msg: line}). */
  logs: Record<string, unknown>[];
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export async function startProgram(
  name: string,
  script: string,
  env: NodeJS.ProcessEnv,
  opts: { waitPort?: number; echo?: boolean } = {},
): Promise<RunningProgram> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let buffered = '';
  const onData = (chunk: Buffer): void => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      if (opts.echo || process.env.VF_TEST_ECHO) process.stderr.write(`[${name}] ${line}\n`);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line });
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const kill = async (signal: NodeJS.Signals) => {
    if (!gone()) child.kill(signal);
    await exited;
  };
  if (opts.waitPort !== undefined) {
    await Promise.race([
      waitForPort(opts.waitPort, 30_000),
      exited.then(() => {
        throw new Error(`${name} exited before listening: ${JSON.stringify(logs.slice(-5))}`);
      }),
    ]);
  }
  return {
    name,
    child,
    logs,
    kill,
    async stop(graceMs = 10_000) {
      if (gone()) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Poll `check` until it returns true, or throw after timeoutMs with `what` in the message. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
