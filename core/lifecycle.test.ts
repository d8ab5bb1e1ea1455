// gracefulShutdown in a real process: signals run `stop` once and exit with its outcome, a
// second signal exits at once, and a stop that overruns its deadline is cut short.
//
// Each test runs a small program in a child process, since what is tested is signals and
// process.exit. The child imports core/lifecycle.ts and core/logger.ts directly, through
// Node's type stripping (Node 24), so this suite needs no build.
import { spawn } from 'node:child_process';

type Line = { level: number; msg: string; [k: string]: unknown };

/**
 * The program: a real logger, gracefulShutdown with `stop` as STOP says (ok: resolves after
 * 50 ms; fail: rejects; hang: never settles), then a "ready" line; it stays alive until it exits.
 * FATAL=1: the program itself calls shutdown(3, …) and then shutdown(4, …), as a fatal error
 * path would.
 */
const program = `
import { gracefulShutdown } from ${JSON.stringify(new URL('./lifecycle.ts', import.meta.url).href)};
import { createLogger } from ${JSON.stringify(new URL('./logger.ts', import.meta.url).href)};
const logger = createLogger('lifecycle-test', 'info');
const stop = async () => {
  logger.info('stop called');
  if (process.env.STOP === 'fail') throw new Error('could not close');
  if (process.env.STOP === 'hang') return new Promise(() => {});
  await new Promise((r) => setTimeout(r, 50));
};
const shutdown = gracefulShutdown(logger, stop, Number(process.env.DEADLINE_MS));
setInterval(() => {}, 1000);
logger.info('ready');
if (process.env.FATAL === '1') {
  shutdown(3, 'fatal error');
  shutdown(4, 'another fatal error');
}
`;

interface Run {
  lines: Line[];
  /** Resolves once a line with this message has been written. */
  logged(msg: string): Promise<void>;
  signal(s: NodeJS.Signals): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

function run(env: Record<string, string>): Run {
  const started = Date.now();
  const child = spawn(process.execPath, ['--input-type=module', '-e', program], {
    env: { PATH: process.env.PATH, DEADLINE_MS: '20000', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Line[] = [];
  const waiters: Array<{ msg: string; resolve: () => void }> = [];
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const part of parts) {
      const line = JSON.parse(part) as Line;
      lines.push(line);
      for (const w of waiters.filter((w) => w.msg === line.msg)) w.resolve();
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, ms: Date.now() - started })),
  );
  return {
    lines,
    logged: (msg) =>
      lines.some((l) => l.msg === msg)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => waiters.push({ msg, resolve })),
            exited.then(() => {
              throw new Error(`exited without logging "${msg}": ${JSON.stringify(lines)}`);
            }),
          ]),
    signal: (s) => child.kill(s),
    exited,
  };
}

const messages = (r: Run) => r.lines.map((l) => l.msg);

test('SIGTERM runs stop once and exits 0 once it has finished, with its lines logged', async () => {
  const p = run({ STOP: 'ok' });
  await p.logged('ready');
  p.signal('SIGTERM');
  expect(await p.exited).toMatchObject({ code: 0, signal: null });
  expect(messages(p)).toEqual(['ready', 'shutting down', 'stop called', 'stopped']);
  expect(p.lines[1]).toMatchObject({ why: 'SIGTERM' });
});

test('SIGINT does the same', async () => {
  const p = run({ STOP: 'ok' });
  await p.logged('ready');
  p.signal('SIGINT');
  expect(await p.exited).toMatchObject({ code: 0, signal: null });
  expect(messages(p)).toEqual(['ready', 'shutting down', 'stop called', 'stopped']);
});

test('a stop that fails exits 1 and says so', async () => {
  const p = run({ STOP: 'fail' });
  await p.logged('ready');
  p.signal('SIGTERM');
  expect(await p.exited).toMatchObject({ code: 1 });
  expect(messages(p)).toEqual(['ready', 'shutting down', 'stop called', 'shutdown failed']);
});

test('a stop that overruns its deadline is cut short: exit 1 after the deadline, not before', async () => {
  const p = run({ STOP: 'hang', DEADLINE_MS: '300' });
  await p.logged('ready');
  const signalled = Date.now();
  p.signal('SIGTERM');
  const { code } = await p.exited;
  expect(code).toBe(1);
  expect(Date.now() - signalled).toBeGreaterThanOrEqual(300);
  expect(messages(p)).toEqual(['ready', 'shutting down', 'stop called', 'shutdown overran its deadline: exiting']);
  expect(p.lines[3]).toMatchObject({ deadline_ms: 300 });
});

test('a second signal while stopping exits 1 at once, without waiting for stop or the deadline', async () => {
  const p = run({ STOP: 'hang', DEADLINE_MS: '20000' });
  await p.logged('ready');
  p.signal('SIGTERM');
  await p.logged('stop called');
  const signalled = Date.now();
  p.signal('SIGINT');
  expect((await p.exited).code).toBe(1);
  expect(Date.now() - signalled).toBeLessThan(5000);
  expect(messages(p)).toEqual(['ready', 'shutting down', 'stop called', 'second signal: exiting now']);
});

test('a fatal error through the returned function stops once and exits with its code; a later call is ignored', async () => {
  const p = run({ STOP: 'ok', FATAL: '1' });
  expect((await p.exited).code).toBe(3);
  expect(messages(p)).toEqual(['ready', 'shutting down', 'stop called', 'stopped']);
  expect(p.lines[1]).toMatchObject({ why: 'fatal error' });
});

test('a fatal error whose stop overruns the deadline keeps its own exit code', async () => {
  const p = run({ STOP: 'hang', FATAL: '1', DEADLINE_MS: '300' });
  expect((await p.exited).code).toBe(3);
  expect(messages(p)).toContain('shutdown overran its deadline: exiting');
});
