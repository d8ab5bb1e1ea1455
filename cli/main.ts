#!/usr/bin/env node
// `vendorfetch`: the api from a terminal or a script. Built on the HTTP API only (cli/client.ts)
// and on node:util parseArgs (no dependency): one option table, strict, so a mistyped flag is
// an error instead of being ignored. Exit codes: 0 done; 1 the api answered a problem (printed
// as one line with its status), it could not be reached, or items of a batch were refused;
// 2 a usage error.
import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { apiClient, ProblemError, type Api, type BatchAnswer } from './client.js';
import { progressBar, table } from './output.js';

const USAGE = `usage: vendorfetch <command> [options]

commands:
  jobs submit --vendor V --payload JSON [--priority P] [--idempotency-key K]   submit one job
  jobs submit --file FILE [--chunk N] [--priority P]   submit many (JSON array or NDJSON) via POST /jobs/batch;
                                           --priority for the jobs that carry none
  jobs get ID                              read a job
  jobs list [--vendor V] [--status S] [--created-after T] [--limit N] [--cursor C] [--all] [--include payload,result]
  jobs cancel ID                           cancel a pending or processing job
  dlq list --vendor V [--limit N] [--cursor C]          failed jobs of a vendor (admin key)
  dlq replay --vendor V (--all | ID...)                 replay failed jobs (admin key)
  vendors                                  quota use, breaker, lag, paused per vendor (admin key)

priorities (P): high, normal (the default), low

options:
  --url URL          api base URL (env VF_API_URL; default http://127.0.0.1:8080)
  --api-key KEY      client key (env VF_API_KEY)
  --admin-key KEY    admin key (env VF_ADMIN_API_KEY)
  --json             print JSON (for scripts) instead of tables
  -h, --help         this text
`;

const OPTIONS = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  'admin-key': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  vendor: { type: 'string' },
  payload: { type: 'string' },
  'idempotency-key': { type: 'string' },
  priority: { type: 'string' },
  file: { type: 'string' },
  chunk: { type: 'string' },
  status: { type: 'string' },
  'created-after': { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  include: { type: 'string' },
  all: { type: 'boolean', default: false },
} as const satisfies ParseArgsConfig['options'];

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

class UsageError extends Error {}

/** Jobs per POST /jobs/batch of `jobs submit --file` (the api's default limit is 1,000). */
const DEFAULT_CHUNK = 500;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const print = (s: string) => process.stdout.write(`${s}\n`);
const printJson = (v: unknown) => print(JSON.stringify(v, null, 2));
const need = (v: string | undefined, flag: string): string => {
  if (v === undefined || v === '') throw new UsageError(`${flag} is required`);
  return v;
};

/** Jobs from a file: a JSON array, `{"jobs": [...]}`, or NDJSON (one job per line). */
function parseJobsFile(text: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{"jobs"')) {
    const v = JSON.parse(trimmed) as unknown;
    const jobs = Array.isArray(v) ? v : (v as { jobs?: unknown }).jobs;
    if (!Array.isArray(jobs)) throw new UsageError('the file must hold a JSON array of jobs, {"jobs": [...]}, or one job per line');
    return jobs;
  }
  return trimmed.split('\n').filter((l) => l.trim() !== '').map((line, i) => {
    try {
      return JSON.parse(line) as unknown;
    } catch {
      throw new UsageError(`line ${i + 1} of the file is not JSON`);
    }
  });
}

async function submitFile(api: Api, v: Values): Promise<number> {
  const parsed = parseJobsFile(await readFile(need(v.file, '--file'), 'utf8'));
  // --priority is the default of the file's jobs: a job's own `priority` wins. Anything that is
  // not a JSON object is sent as is, for the api to refuse.
  const jobs = v.priority === undefined ? parsed : parsed.map((j) => (isObject(j) && !('priority' in j) ? { ...j, priority: v.priority } : j));
  const chunk = v.chunk === undefined ? DEFAULT_CHUNK : Number(v.chunk);
  if (!Number.isInteger(chunk) || chunk < 1) throw new UsageError('--chunk must be a positive integer');
  const all: BatchAnswer = { accepted: 0, rejected: 0, results: [] };
  const bar = progressBar(jobs.length);
  try {
    for (let i = 0; i < jobs.length; i += chunk) {
      const answer = await api.submitBatch(jobs.slice(i, i + chunk));
      all.accepted += answer.accepted;
      all.rejected += answer.rejected;
      all.results.push(...answer.results);
      bar.update(Math.min(jobs.length, i + chunk));
    }
  } finally {
    bar.end();
  }
  if (v.json) printJson(all);
  else {
    print(table(all.results.map((r, index) => ({ index, status: r.status, request_id: r.request_id, problem: r.problem && `${r.problem.title}${r.problem.detail ? `: ${r.problem.detail}` : ''}` })), ['index', 'status', 'request_id', 'problem']));
    print(`${all.accepted} accepted, ${all.rejected} rejected`);
  }
  if (all.rejected > 0) {
    process.stderr.write(`vendorfetch: ${all.rejected} of ${jobs.length} jobs were rejected (see their problems)\n`);
    return 1;
  }
  return 0;
}

const JOB_COLUMNS = ['request_id', 'vendor', 'priority', 'status', 'attempts', 'created_at', 'error'];

async function run(argv: string[]): Promise<number> {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values: v, positionals: [group, action, ...rest] } = parsed;
  if (v.help || group === undefined) {
    print(USAGE);
    return v.help ? 0 : 2;
  }
  const api = apiClient({
    baseUrl: v.url ?? process.env['VF_API_URL'] ?? 'http://127.0.0.1:8080',
    apiKey: v['api-key'] ?? process.env['VF_API_KEY'],
    adminKey: v['admin-key'] ?? process.env['VF_ADMIN_API_KEY'],
  });
  const show = (value: unknown, rows: () => string) => print(v.json ? JSON.stringify(value, null, 2) : rows());
  const one = (what: string) => {
    if (rest.length !== 1) throw new UsageError(`${what} takes exactly one request_id`);
    return rest[0]!;
  };

  switch (`${group} ${action ?? ''}`.trim()) {
    case 'jobs submit': {
      if (v.file !== undefined) return submitFile(api, v);
      let payload: unknown;
      try {
        payload = JSON.parse(need(v.payload, '--payload'));
      } catch (e) {
        if (e instanceof UsageError) throw e;
        throw new UsageError('--payload must be JSON');
      }
      // The api checks the priority (a bad one → 400 naming the field), as for any client.
      const answer = await api.submit({ vendor: need(v.vendor, '--vendor'), payload, ...(v.priority === undefined ? {} : { priority: v.priority }) }, v['idempotency-key']);
      show(answer, () => answer.request_id);
      return 0;
    }
    case 'jobs get': {
      const job = await api.get(one('jobs get'));
      show(job, () => table([job], [...JOB_COLUMNS, 'completed_at', 'result']));
      return 0;
    }
    case 'jobs cancel': {
      const job = await api.cancel(one('jobs cancel'));
      show(job, () => table([job], JOB_COLUMNS));
      return 0;
    }
    case 'jobs list': {
      const q = { vendor: v.vendor, status: v.status, created_after: v['created-after'], limit: v.limit, cursor: v.cursor, include: v.include };
      const jobs: Array<Record<string, unknown>> = [];
      let next: string | undefined;
      do {
        const page = await api.list({ ...q, ...(next ? { cursor: next } : {}) });
        jobs.push(...page.jobs);
        next = page.next_cursor;
      } while (v.all && next);
      show({ jobs, ...(next ? { next_cursor: next } : {}) }, () => {
        const cols = [...JOB_COLUMNS, ...(v.include?.includes('payload') ? ['payload'] : []), ...(v.include?.includes('result') ? ['result'] : [])];
        return `${table(jobs, cols)}${next ? `\nmore: --cursor ${next}` : ''}`;
      });
      return 0;
    }
    case 'dlq list': {
      const page = await api.deadLetters(need(v.vendor, '--vendor'), { limit: v.limit, cursor: v.cursor });
      show(page, () => `${table(page.dead_letters, ['request_id', 'reason', 'attempts', 'failed_at', 'last_error'])}${page.next_cursor ? `\nmore: --cursor ${page.next_cursor}` : ''}`);
      return 0;
    }
    case 'dlq replay': {
      if (v.all === (rest.length > 0)) throw new UsageError('dlq replay takes --all or request_ids, not both or neither');
      const answer = await api.replay(need(v.vendor, '--vendor'), v.all ? { all: true } : { request_ids: rest });
      show(answer, () =>
        [
          `replayed ${answer.replayed.length}${answer.more ? ' (more failed jobs remain: run again)' : ''}`,
          ...answer.replayed.map((id) => `  ${id}`),
          ...(answer.not_replayed.length > 0 ? [`not replayed ${answer.not_replayed.length}`, ...answer.not_replayed.map((n) => `  ${n.request_id}: ${n.reason}`)] : []),
        ].join('\n'),
      );
      return 0;
    }
    case 'vendors': {
      const { vendors } = await api.vendors();
      show({ vendors }, () =>
        table(
          vendors.map((x) => ({
            ...x,
            quota: `${x.quota['used_last_second']}/${x.quota['requests_per_second']} rps`,
            in_flight: `${x.quota['in_flight']}/${x.quota['max_in_flight'] || '∞'}`,
          })),
          ['name', 'pool', 'mode', 'quota', 'in_flight', 'breaker', 'lag', 'pending', 'paused'],
        ),
      );
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${[group, action].filter(Boolean).join(' ')}"`);
  }
}

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError) {
    process.stderr.write(`vendorfetch: ${e.message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`vendorfetch: ${e instanceof ProblemError ? e.message : (e as Error).message}\n`);
    process.exitCode = 1;
  }
}
