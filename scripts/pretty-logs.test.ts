// What `npm start` prints for the programs' JSON log lines (scripts/pretty-logs.ts).
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { chooseLogFormat, lineFormatter } from './pretty-logs.js';

/** Real pino lines, made the way core/logger.ts makes them (name and program = the program). */
function logLines(program: string, log: (l: pino.Logger) => void): string[] {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  log(pino({ name: program, level: 'info', base: { program, pid: 4242 } }, sink));
  return lines;
}

const ANSI = /\x1b\[[0-9;]*m/;

test('a pino line becomes one readable line with level, program and fields', () => {
  const [line] = logLines('api', (l) => l.info({ port: 8080 }, 'api listening'));
  const out = lineFormatter('pretty', { colorize: false })('api', line!);
  expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(api\/4242\): api listening \{"port":8080\}$/);
});

test('coloured when asked, and an error stays on one line', () => {
  const [line] = logLines('worker', (l) => l.error({ err: new Error('vendor down'), pool: 'local/sync' }, 'call failed'));
  const out = lineFormatter('pretty', { colorize: true })('controller', line!);
  expect(out).toMatch(ANSI);
  expect(out).toContain('(worker/4242)'); // the worker's own name, not the parent that relayed it
  expect(out).toContain('vendor down');
  expect(out.split('\n')).toHaveLength(1);
});

test('non-JSON lines keep their source; json format passes lines through', () => {
  const pretty = lineFormatter('pretty', { colorize: false });
  expect(pretty('redis', 'Ready to accept connections tcp')).toBe('[redis] Ready to accept connections tcp');
  expect(pretty('mocks', '{not json')).toBe('[mocks] {not json');
  const [line] = logLines('api', (l) => l.info('x'));
  expect(lineFormatter('json', { colorize: false })('api', line!)).toBe(`[api] ${line}`);
});

test('pretty only for a terminal, unless VF_LOG_FORMAT says otherwise', () => {
  expect(chooseLogFormat({}, true)).toBe('pretty');
  expect(chooseLogFormat({}, false)).toBe('json');
  expect(chooseLogFormat({ VF_LOG_FORMAT: 'json' }, true)).toBe('json');
  expect(chooseLogFormat({ VF_LOG_FORMAT: 'pretty' }, false)).toBe('pretty');
});
