// How the CLI shows things: aligned tables for people, and a progress bar on stderr only when
// stderr is a terminal (a pipe or a log file gets no carriage-return noise). `--json` output is
// written by the commands themselves, one JSON document on stdout.

/** Column-aligned text: a header row, then one row per record; missing values print as "-". */
export function table(rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]): string {
  const cell = (v: unknown): string => (v === undefined || v === null || v === '' ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

export interface Progress {
  update(done: number): void;
  end(): void;
}

/** A progress bar for `total` items; a no-op unless `stream` is a TTY. */
export function progressBar(total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update: () => undefined, end: () => undefined };
  const width = 30;
  const draw = (done: number) => {
    const filled = total === 0 ? width : Math.round((done / total) * width);
    stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
  };
  draw(0);
  return { update: draw, end: () => stream.write('\n') };
}
