// main.ts as a real process. It runs from the build (npm test builds first); when there is no
// build the test says so and is skipped.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const entry = path.resolve('dist/vendor-mocks/main.js');
const built = existsSync(entry);
if (!built) console.warn(`vendor-mocks/main.test.ts skipped: ${entry} not built (run \`npm run build\`; npm test does)`);

(built ? it : it.skip)('starts both mocks on the given ports, serves, and exits 0 on SIGTERM', async () => {
  const child = spawn(process.execPath, [entry, '--sync-port', '0', '--async-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 10_000;
    while (!/async mock listening/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const urls = [...out.matchAll(/listening on (http:\/\/[\d.]+:\d+)/g)].map((m) => m[1]!);
    expect(urls).toHaveLength(2);
    const [syncUrl, asyncUrl] = urls as [string, string];
    const r = await fetch(`${syncUrl}/fetch`, { method: 'POST', body: '{"request_id":"m-1"}', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(200);
    expect(((await (await fetch(`${asyncUrl}/healthz`)).json()) as { kind: string }).kind).toBe('async');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
