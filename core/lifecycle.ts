// Graceful shutdown, one way for every program: the first SIGTERM/SIGINT runs `stop` (which
// undoes start-up in reverse order), a second signal exits at once, and a stop that overruns
// its deadline exits anyway.
import type { Logger } from './logger.js';

export function stopOnSignals(logger: Logger, stop: (signal: string) => Promise<void>, deadlineMs = 30_000): void {
  let stopping = false;
  const onSignal = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    setTimeout(() => {
      logger.error({ deadline_ms: deadlineMs }, 'shutdown overran its deadline: exiting');
      process.exit(1);
    }, deadlineMs).unref();
    stop(signal).then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}
