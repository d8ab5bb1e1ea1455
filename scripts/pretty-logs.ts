// Readable logs for `npm start`, where a person watches a terminal. The programs themselves
// always write pino JSON (one object per line, what log collectors want); local mode reads
// their output and shows each event as one coloured line through pino-pretty:
//   [08:01:02.345] INFO (api/4242): api listening {"port":8080,...}
// The name in brackets is the program (`name` in every line: api, worker, controller-local,
// mocks). Lines that are not pino JSON (redis-server's) keep a `[source]` prefix.
import PinoPretty from 'pino-pretty';

export type LogFormat = 'pretty' | 'json';

/** VF_LOG_FORMAT wins; otherwise pretty only when a terminal is watching (piped output stays JSON). */
export function chooseLogFormat(env: NodeJS.ProcessEnv, isTTY: boolean): LogFormat {
  const asked = env['VF_LOG_FORMAT'];
  if (asked === 'pretty' || asked === 'json') return asked;
  return isTTY ? 'pretty' : 'json';
}

/** Turns one output line of a child process into what local mode prints (without the newline). */
export function lineFormatter(format: LogFormat, opts: { colorize: boolean }): (source: string, line: string) => string {
  const pretty = PinoPretty.prettyFactory({
    colorize: opts.colorize,
    singleLine: true,
    // Errors too stay on their line (the stack as an escaped string), so one event = one line.
    errorLikeObjectKeys: [],
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'hostname,program',
  });
  return (source, line) => {
    if (format === 'pretty' && line.startsWith('{')) {
      try {
        const event = JSON.parse(line) as Record<string, unknown>;
        if (typeof event['level'] === 'number') return pretty(event).trimEnd();
      } catch {
        // Not JSON after all: shown as is, below.
      }
    }
    return `[${source}] ${line}`;
  };
}

export const colorSupported: boolean = PinoPretty.isColorSupported;
