// The `vendorfetch` CLI as a user runs it: a child process (its TypeScript run by Node's type
// stripping, so no build is needed) against the real api listening on a port (testing/api-app.ts:
// real redis-server, SQLite store, API and admin keys configured). Asserts stdout, stderr and
// exit codes.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { keys } from '../core/keys.js';
import { enqueue, ensureGroup, readNew } from '../core/queue.js';
import { VendorRegistry } from '../core/registry.js';
import { freePort } from '../testing/ports.js';
import { spec, startApi, startServices, type TestApi, type TestServices } from '../testing/api-app.js';

let s: TestServices;
let api: TestApi;
let dir: string;
const CLIENT_KEY = 'cli-client-key';
const ADMIN_KEY = 'cli-admin-key';

beforeAll(async () => {
  s = await startServices();
  api = await startApi(s, { apiKeys: [CLIENT_KEY], adminApiKeys: [ADMIN_KEY] });
  dir = await mkdtemp(path.join(os.tmpdir(), 'vf-cli-'));
});
afterAll(async () => {
  await api?.close();
  await s?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with the keys in the environment (as a user's shell would have them), unless overridden. */
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', './testing/testenv/ts-hooks.mjs', 'cli/main.ts', ...args],
      { env: { ...process.env, VF_API_URL: api.base, VF_API_KEY: CLIENT_KEY, VF_ADMIN_API_KEY: ADMIN_KEY, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('jobs submit: one job → its request_id on stdout, exit 0; the job is stored', async () => {
  const r = await cli(['jobs', 'submit', '--vendor', 'acme', '--payload', '{"q": "one"}']);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  const id = r.stdout.trim();
  expect(await s.store.get(id)).toMatchObject({ vendor: 'acme', payload: { q: 'one' }, priority: 'normal', status: 'pending' });
});

test('jobs submit --priority: stored with the job and queued in its lane; a bad one → exit 1 naming the field; --file: the default of jobs without one', async () => {
  const high = await cli(['jobs', 'submit', '--vendor', 'acme', '--payload', '{"q": "high"}', '--priority', 'high']);
  expect(high).toMatchObject({ code: 0, stderr: '' });
  const id = high.stdout.trim();
  expect(await s.store.get(id)).toMatchObject({ vendor: 'acme', priority: 'high' });
  expect((await s.redis.xrange(keys.stream('acme', 'high'), '-', '+')).map(([, f]) => f[1])).toContain(id);

  const bad = await cli(['jobs', 'submit', '--vendor', 'acme', '--payload', '{}', '--priority', 'urgent']);
  expect(bad).toMatchObject({ code: 1, stdout: '' });
  expect(bad.stderr).toContain('vendorfetch: 400 Invalid request');
  expect(bad.stderr).toContain('\n  priority: must be one of high, normal, low');

  const file = path.join(dir, 'prio.ndjson');
  await writeFile(file, [{ vendor: 'acme', payload: { n: 1 } }, { vendor: 'acme', priority: 'high', payload: { n: 2 } }].map((j) => JSON.stringify(j)).join('\n'));
  const r = await cli(['jobs', 'submit', '--file', file, '--priority', 'low', '--json']);
  expect(r.code).toBe(0);
  const [first, second] = (JSON.parse(r.stdout) as { results: Array<{ request_id: string }> }).results;
  expect((await s.store.get(first!.request_id))?.priority).toBe('low');
  expect((await s.store.get(second!.request_id))?.priority).toBe('high');
});

test('jobs submit --file: NDJSON sent in chunks through POST /jobs/batch; no progress bar when stderr is not a TTY', async () => {
  const file = path.join(dir, 'jobs.ndjson');
  await writeFile(file, Array.from({ length: 1200 }, (_, n) => JSON.stringify({ vendor: 'slowco', payload: { n } })).join('\n'));
  const xlen = await s.redis.xlen(keys.stream('slowco', 'normal'));
  const r = await cli(['jobs', 'submit', '--file', file, '--chunk', '500', '--json']);
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
  const answer = JSON.parse(r.stdout) as { accepted: number; rejected: number; results: Array<{ request_id: string }> };
  expect(answer).toMatchObject({ accepted: 1200, rejected: 0 });
  expect(answer.results).toHaveLength(1200);
  expect(await s.redis.xlen(keys.stream('slowco', 'normal'))).toBe(xlen + 1200);
  expect(await s.store.get(answer.results[1199]!.request_id)).toMatchObject({ payload: { n: 1199 } });
});

test('jobs submit --file on a terminal: a progress bar on stderr, one step per chunk', async () => {
  // util-linux `script` gives the CLI a real pseudo-terminal (stdout and stderr are TTYs there).
  const file = path.join(dir, 'bar.json');
  await writeFile(file, JSON.stringify(Array.from({ length: 900 }, (_, n) => ({ vendor: 'acme', payload: { n } }))));
  const command = [process.execPath, '--import', './testing/testenv/ts-hooks.mjs', 'cli/main.ts', 'jobs', 'submit', '--file', file, '--chunk', '400', '--json']
    .map((a) => `'${a}'`)
    .join(' ');
  const out = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile('script', ['-qec', command, '/dev/null'], { env: { ...process.env, VF_API_URL: api.base, VF_API_KEY: CLIENT_KEY }, timeout: 60_000 }, (err, stdout) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout }),
    );
  });
  expect(out.code).toBe(0);
  expect(out.stdout).toContain(`\r[${'.'.repeat(30)}] 0/900`);
  expect(out.stdout).toContain(`\r[${'#'.repeat(13)}${'.'.repeat(17)}] 400/900`);
  expect(out.stdout).toContain(`\r[${'#'.repeat(27)}${'.'.repeat(3)}] 800/900`);
  expect(out.stdout).toContain(`\r[${'#'.repeat(30)}] 900/900`);
  expect(out.stdout).toContain('"accepted": 900');
});

test('jobs submit --file with a refused job: a table naming its problem, and exit 1 with a count on stderr', async () => {
  const file = path.join(dir, 'mixed.json');
  await writeFile(file, JSON.stringify([{ vendor: 'acme', payload: { n: 1 } }, { vendor: 'nobody', payload: {} }]));
  const r = await cli(['jobs', 'submit', '--file', file]);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe('vendorfetch: 1 of 2 jobs were rejected (see their problems)\n');
  const lines = r.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^INDEX\s+STATUS\s+REQUEST_ID\s+PROBLEM$/);
  expect(lines[1]).toMatch(/^0\s+202\s+[0-9a-f-]{36}\s+-$/);
  expect(lines[2]).toMatch(/^1\s+422\s+-\s+Unknown vendor: unknown vendor "nobody"$/);
  expect(lines[3]).toBe('1 accepted, 1 rejected');
});

test('jobs get, list and cancel: tables for people, --json for scripts; a problem answer → exit 1 with its status and title', async () => {
  const ids: string[] = [];
  for (let n = 0; n < 3; n++) {
    const priority = n === 1 ? ['--priority', 'low'] : [];
    ids.push((await cli(['jobs', 'submit', '--vendor', 'otherco', '--payload', `{"n": ${n}}`, ...priority])).stdout.trim());
  }

  const got = await cli(['jobs', 'get', ids[0]!]);
  expect(got.code).toBe(0);
  expect(got.stdout).toMatch(/^REQUEST_ID\s+VENDOR\s+PRIORITY\s+STATUS\s+ATTEMPTS/);
  expect(got.stdout).toMatch(new RegExp(`${ids[0]}  otherco  normal\\s+pending\\s+0`));
  expect((await cli(['jobs', 'get', ids[1]!])).stdout).toMatch(new RegExp(`${ids[1]}  otherco  low\\s+pending\\s+0`));
  const gotJson = JSON.parse((await cli(['jobs', 'get', ids[0]!, '--json'])).stdout) as Record<string, unknown>;
  expect(gotJson).toEqual(await (await fetch(`${api.base}/jobs/${ids[0]}`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).json());

  const page = await cli(['jobs', 'list', '--vendor', 'otherco', '--limit', '2']);
  expect(page.code).toBe(0);
  const rows = page.stdout.trim().split('\n');
  expect(rows).toHaveLength(4); // header, 2 jobs, "more: --cursor …"
  expect(rows[0]).toMatch(/^REQUEST_ID\s+VENDOR\s+PRIORITY\s+STATUS\s+ATTEMPTS/);
  expect(rows[1]).toMatch(new RegExp(`^${ids[0]}  otherco  normal\\s+pending`));
  expect(rows[2]).toMatch(new RegExp(`^${ids[1]}  otherco  low\\s+pending`));
  expect(rows[3]).toBe(`more: --cursor ${ids[1]}`);
  const all = JSON.parse((await cli(['jobs', 'list', '--vendor', 'otherco', '--limit', '2', '--all', '--json', '--include', 'payload'])).stdout) as { jobs: Array<{ request_id: string; priority: string; payload: unknown }> };
  expect(all.jobs.map((j) => j.request_id)).toEqual(ids);
  expect(all.jobs.map((j) => j.priority)).toEqual(['normal', 'low', 'normal']);
  expect(all.jobs[2]!.payload).toEqual({ n: 2 });

  const cancelled = await cli(['jobs', 'cancel', ids[0]!, '--json']);
  expect(cancelled.code).toBe(0);
  expect(JSON.parse(cancelled.stdout)).toMatchObject({ request_id: ids[0], status: 'cancelled' });
  await s.store.startAttempt(ids[1]!, new Date(Date.now() + 60_000), new Date());
  await s.store.complete(ids[1]!, { done: true }, new Date());
  const finished = await cli(['jobs', 'cancel', ids[1]!]);
  expect(finished).toMatchObject({ code: 1, stdout: '' });
  expect(finished.stderr).toMatch(/^vendorfetch: 409 Job already finished: /);

  const bad = await cli(['jobs', 'list', '--limit', '0', '--cursor', 'x']);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain('vendorfetch: 400 Invalid request');
  expect(bad.stderr).toContain('\n  limit: must be an integer from 1 to 1000');
  expect(bad.stderr).toContain('\n  cursor: must be a next_cursor from an earlier page');
});

test('keys: without the client key → 401; the admin routes without an admin key → exit 1 with the problem', async () => {
  const noKey = await cli(['jobs', 'list'], { VF_API_KEY: undefined });
  expect(noKey.code).toBe(1);
  expect(noKey.stderr).toMatch(/^vendorfetch: 401 Unauthorized/);
  const asClient = await cli(['vendors'], { VF_ADMIN_API_KEY: undefined, VF_API_KEY: undefined, });
  expect(asClient.code).toBe(1);
  expect(asClient.stderr).toMatch(/^vendorfetch: 401 Unauthorized/);
  const flag = await cli(['vendors', '--admin-key', CLIENT_KEY], { VF_ADMIN_API_KEY: undefined });
  expect(flag.code).toBe(1);
  expect(flag.stderr).toMatch(/^vendorfetch: 403 Forbidden/);
});

test('dlq list and replay (admin key): the failed job is listed, replayed to pending and queued', async () => {
  const id = (await cli(['jobs', 'submit', '--vendor', 'acme', '--payload', '{"dead": true}'])).stdout.trim();
  await s.store.fail(id, 'vendor_rejected: HTTP 400', new Date());
  const list = await cli(['dlq', 'list', '--vendor', 'acme']);
  expect(list.code).toBe(0);
  expect(list.stdout).toMatch(/^REQUEST_ID\s+REASON\s+ATTEMPTS\s+FAILED_AT\s+LAST_ERROR/);
  expect(list.stdout).toMatch(new RegExp(`${id}\\s+vendor_rejected\\s+0\\s+\\S+\\s+vendor_rejected: HTTP 400`));
  const replay = await cli(['dlq', 'replay', '--vendor', 'acme', id]);
  expect(replay.code).toBe(0);
  expect(replay.stdout).toBe(`replayed 1\n  ${id}\n`);
  expect((await s.store.get(id))?.status).toBe('pending');
  const again = JSON.parse((await cli(['dlq', 'replay', '--vendor', 'acme', id, '--json'])).stdout) as { not_replayed: unknown[] };
  expect(again.not_replayed).toEqual([{ request_id: id, reason: 'not_failed' }]);
});

test('vendors (admin key, GET /vendors): quota, breaker as the workers publish it, lag and pending summed over the lanes, paused', async () => {
  await s.redis.set(keys.circuit('otherco'), 'open');
  // otherco's lanes: what earlier tests queued, plus two high entries (one of them delivered to
  // a worker and not acknowledged: pending) and one low; the sum is what GET /vendors shows.
  await ensureGroup(s.redis, 'otherco');
  await enqueue(s.redis, 'otherco', 'lane-h1', 'high');
  await enqueue(s.redis, 'otherco', 'lane-h2', 'high');
  await enqueue(s.redis, 'otherco', 'lane-l1', 'low');
  expect((await readNew(s.redis, 'otherco', 'high', 'cli-test', 1)).entries).toHaveLength(1);
  // (the jobs get/list test left otherco jobs in the normal and low lanes.)
  const lag = (await s.redis.xlen(keys.stream('otherco', 'normal'))) + (await s.redis.xlen(keys.stream('otherco', 'high'))) - 1 + (await s.redis.xlen(keys.stream('otherco', 'low')));
  // A paused vendor of another pool: `paused` is its spec's flag as published in the registry.
  const registry = new VendorRegistry(s.redis);
  await registry.publish('local/resting', [spec({ name: 'resting', url: 'http://127.0.0.1:9/fetch', quota: { requestsPerSecond: 1 }, paused: true })]);
  // The quota gate's state as worker/quota.ts leaves it (Redis µs scores): two grants in the
  // last second and one 5 s old, one open lease, a 429 slow-down; acme's gate stays untouched.
  const [sec, usec] = await s.redis.time();
  const nowUs = Number(sec) * 1_000_000 + Number(usec);
  await s.redis.zadd(keys.quota('otherco', 'window'), nowUs - 5_000_000, 'old-grant', nowUs - 200_000, 'grant-1', nowUs - 100, 'grant-2', nowUs + 50_000, 'gcra:tat');
  await s.redis.zadd(keys.quota('otherco', 'inflight'), nowUs + 30_000_000, 'lease-1', nowUs - 1000, 'expired-lease');
  await s.redis.set(keys.quota('otherco', 'pause'), '1', 'PX', 60_000);
  try {
    const r = await cli(['vendors', '--json']);
    expect(r.code).toBe(0);
    const { vendors } = JSON.parse(r.stdout) as { vendors: Array<Record<string, unknown>> };
    expect(vendors.map((v) => v['name'])).toEqual(['acme', 'nosecret', 'otherco', 'resting', 'slowco']);
    expect(vendors.find((v) => v['name'] === 'otherco')).toMatchObject({
      pool: 'local/test',
      mode: 'async',
      breaker: 'open',
      lag,
      pending: 1,
      paused: false,
      quota: { requests_per_second: 10, used_last_second: 2, in_flight: 1 },
    });
    expect(vendors.find((v) => v['name'] === 'resting')).toMatchObject({ pool: 'local/resting', paused: true, lag: 0, pending: 0 });
    expect((vendors.find((v) => v['name'] === 'otherco')!['quota'] as { slowed_down_ms: number }).slowed_down_ms).toBeGreaterThan(50_000);
    expect(vendors.find((v) => v['name'] === 'acme')).toMatchObject({ breaker: 'unknown', paused: false, quota: { used_last_second: 0, in_flight: 0, slowed_down_ms: 0 } });
    const text = await cli(['vendors']);
    expect(text.stdout.split('\n')[0]).toMatch(/^NAME\s+POOL\s+MODE\s+QUOTA\s+IN_FLIGHT\s+BREAKER\s+LAG\s+PENDING\s+PAUSED$/);
    expect(text.stdout).toMatch(new RegExp(`otherco\\s+local/test\\s+async\\s+2/10 rps\\s+1/\\S+\\s+open\\s+${lag}\\s+1\\s+false`));
    expect(text.stdout).toMatch(/resting\s+local\/resting\s+sync\s+0\/1 rps\s+\S+\s+unknown\s+0\s+0\s+true/);
  } finally {
    await registry.removePool('local/resting');
  }
});

test('usage errors → exit 2 with the usage; an unreachable api → exit 1 with a clear message', async () => {
  const unknown = await cli(['jobs', 'explode']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(/^vendorfetch: unknown command "jobs explode"\n\nusage: vendorfetch/);
  const flag = await cli(['jobs', 'list', '--colour']);
  expect(flag.code).toBe(2);
  expect(flag.stderr).toContain("Unknown option '--colour'");
  expect((await cli(['jobs', 'submit', '--vendor', 'acme'])).stderr).toMatch(/^vendorfetch: --payload is required/);
  expect((await cli(['--help'])).code).toBe(0);
  const port = await freePort(); // nothing listens there
  const down = await cli(['jobs', 'list', '--url', `http://127.0.0.1:${port}`]);
  expect(down.code).toBe(1);
  expect(down.stderr).toBe(`vendorfetch: cannot reach the api at http://127.0.0.1:${port}: ECONNREFUSED\n`);
});
