import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout. `program` names the process (api, worker, controller, …). */
export function createLogger(program: string, level: string): Logger {
  return pino({ name: program, level, base: { program, pid: process.pid } });
}
