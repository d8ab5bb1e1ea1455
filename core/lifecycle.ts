// Graceful shutdown, one way for every program. SIGTERM/SIGINT (or a fatal error, through the
// returned function) run `stop` once — it undoes start-up in reverse order — and the process
// exits; a second signal exits at once, and a stop that overruns its deadline exits anyway.
import type { Logger } from './logger.js';

export type Shutdown = (code: number, why: string) => void;

export function gracefulShutdown(logger: Logger, stop: () => Promise<void>, deadlineMs = 30_000): Shutdown {
  let stopping = false;
  const shutdown: Shutdown = (code, why) => {
    if (stopping) {
      if (why === 'SIGTERM' || why === 'SIGINT') {
        logger.warn({ signal: why }, 'second signal: exiting now');
        process.exit(1);
      }
      return;
    }
    stopping = true;
    logger.info({ why }, 'shutting down');
    setTimeout(() => {
      logger.error({ deadline_ms: deadlineMs }, 'shutdown overran its deadline: exiting');
      process.exit(code || 1);
    }, deadlineMs).unref();
    stop().then(
      () => {
        logger.info('stopped');
        process.exit(code);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown(0, 'SIGTERM'));
  process.on('SIGINT', () => shutdown(0, 'SIGINT'));
  return shutdown;
}
