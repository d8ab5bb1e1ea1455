import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs on stdout. `program` names the process (api, worker, controller, …).
 * `sync: true` writes each line before returning (slower, but nothing is lost when the process
 * is SIGKILLed: the worker uses it so that its last lines survive a crash). Default false.
 */
export function createLogger(program: string, level: string, opts: { sync?: boolean } = {}): Logger {
  const base = { name: program, level, base: { program, pid: process.pid } };
  return opts.sync ? pino(base, pino.destination({ dest: 1, sync: true })) : pino(base);
}
