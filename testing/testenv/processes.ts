// Starting server processes with their output in log files, and stopping exactly those
// processes by PID later — possibly from another process (`testenv down`), so a PID is only
// signalled while /proc says it still runs the binary we started (PIDs get reused).
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';

export interface ServerProcess {
  name: string;
  pid: number;
  /** Real path of the executable (symlinks resolved), to recognise the process later. */
  binary: string;
  logFile: string;
}

export interface StartedServer extends ServerProcess {
  /** Present only in the process that spawned it. */
  child: ChildProcess;
  /** Set once the process has exited (in the spawning process). */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

export interface SpawnOptions {
  name: string;
  binary: string;
  args: string[];
  logFile: string;
  /**
   * true: own process group, survives the spawning process and a Ctrl-C in its terminal
   * (`testenv up`). false: dies with the terminal's Ctrl-C like the test run that owns it.
   */
  detached: boolean;
  env?: NodeJS.ProcessEnv;
}

export function spawnServer(opts: SpawnOptions): StartedServer {
  const fd = openSync(opts.logFile, 'a');
  try {
    const child = spawn(opts.binary, opts.args, {
      stdio: ['ignore', fd, fd],
      detached: opts.detached,
      env: opts.env ?? process.env,
    });
    if (child.pid === undefined) throw new Error(`could not start ${opts.name} (${opts.binary})`);
    const server: StartedServer = {
      name: opts.name,
      pid: child.pid,
      binary: realpathSync(opts.binary),
      logFile: opts.logFile,
      child,
      exit: undefined,
    };
    child.once('exit', (code, signal) => (server.exit = { code, signal }));
    child.once('error', () => {});
    if (opts.detached) child.unref();
    return server;
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether `pid` is alive (not a zombie) and still runs `binary`. Compares /proc/<pid>/exe, not
 * the command line: redis-server rewrites its process title.
 */
export function isRunning(p: Pick<ServerProcess, 'pid' | 'binary'>): boolean {
  try {
    const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
    // Field 3, after the parenthesised command name, is the state; Z = exited, not yet reaped.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    return readlinkSync(`/proc/${p.pid}/exe`) === p.binary;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM each still-running process, wait up to `graceMs`, then SIGKILL what is left. */
export async function stopProcesses(list: readonly ServerProcess[], graceMs = 10_000): Promise<void> {
  const running = list.filter((p) => isRunning(p));
  for (const p of running) {
    try {
      process.kill(p.pid, 'SIGTERM');
    } catch {
      // exited between the check and the signal
    }
  }
  const deadline = Date.now() + graceMs;
  while (running.some((p) => isRunning(p)) && Date.now() < deadline) await sleep(50);
  for (const p of running.filter((q) => isRunning(q))) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  const killDeadline = Date.now() + 5_000;
  while (running.some((p) => isRunning(p)) && Date.now() < killDeadline) await sleep(20);
}

/** Explain why a server did not come up: its exit status and the end of its log. */
export function describeFailure(s: StartedServer): string {
  const how = s.exit ? `exited (${s.exit.signal ?? `code ${s.exit.code}`})` : 'did not become ready';
  return `${s.name} ${how}; last log lines (${s.logFile}):\n${logTail(s.logFile)}`;
}

/** The last lines of a log file, for error messages. */
export function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
