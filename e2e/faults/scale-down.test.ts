// Fault: a pool scaled down — all workers but one get SIGTERM at once while most of their jobs
// wait for the vendor's quota (seen on a real node: 5 pods → 1, 600 jobs, a vendor answering
// after 1.5 s; 4 jobs were left `pending` / `worker_shutdown` with no stream entry anywhere,
// so only the sweeper's safety net, 10 minutes later, would have found them).
// Real processes (api and workers from dist/), a real redis-server, the sync mock in its own
// process. The pending timeout is 10 minutes, so the sweeper cannot hide a lost job: every job
// must complete within a minute or two of the scale-down, and none twice (one vendor call per
// job, one completion write per job).
// Four runs: on the embedded SQLite store; with that store's write lock held by another
// process around the scale-down (writes wait, as on the slow store of the incident);
// with a vendor slower than the liveness margin (calls still running 3 s into the drain); and on a
// MongoDB-wire store (FerretDB, when the test environment has it) frozen briefly.
import { randomBytes } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import type { Job, JobStore } from '../../core/job.js';
import { keys } from '../../core/keys.js';
import { createJobStore } from '../../core/store/index.js';
import { startDataPlane, startSyncMockProcess, type DataPlane, type MockProcess } from '../dataplane/harness.js';
import { eventually, type RunningProgram } from '../../testing/programs.js';
import { ferretBinary, startStoreServer, type StoreServer } from './store-server.js';
import { settlementProblems } from './support.js';

const RPS = 20;
const BURST = 5;
const LATENCY_MS = 1500;
const POOL = 5;
const CONCURRENCY = 20;
const JOBS_PER_CYCLE = 200;
const CYCLES = 3;
/** The sweeper's safety net, far beyond the test: a job it would have to rescue fails the test. */
const PENDING_TIMEOUT_SECONDS = 600;
/** What "well before the pending timeout" means here: every job done this soon after the scale-down. */
const SETTLE_MS = 60_000;
// Production timers (visibility 30 s, drain 10 s); only the sweeper runs more often than by default.
const workerEnv = { VF_CONCURRENCY: String(CONCURRENCY), VF_SWEEP_INTERVAL_MS: '500' };

/** Makes the store slow while `during` (the workers' shutdown) runs; resolves when both are over. */
type SlowStore = (during: Promise<void>) => Promise<void>;

interface Case {
  name: string;
  /** How long the vendor takes to answer; default LATENCY_MS. */
  latencyMs?: number;
  /** Jobs queued per cycle; default JOBS_PER_CYCLE. */
  jobs?: number;
  /** How soon after the scale-down every job must be complete; default SETTLE_MS. */
  settleMs?: number;
  /** Scale-down cycles; default CYCLES. */
  cycles?: number;
  /** The plane's store (MONGODB_URL, or the SQLite default when env is {}), and how to make it slow. */
  setup(): Promise<{ env: NodeJS.ProcessEnv; slow?: (p: DataPlane) => SlowStore; reader?: () => Promise<JobStore>; close?: () => Promise<void> }>;
}

/** Hold SQLite's write lock from this process for `ms`: every product write waits (busy timeout 5 s). */
const sqliteWriteLock =
  (ms: number) =>
  (p: DataPlane): SlowStore =>
  async (during) => {
    const db = new DatabaseSync(p.sqlitePath);
    db.exec('PRAGMA busy_timeout = 5000');
    db.exec('BEGIN IMMEDIATE');
    await new Promise((r) => setTimeout(r, ms));
    db.exec('COMMIT');
    db.close();
    await during;
  };

const binary = ferretBinary();
const cases: Case[] = [
  { name: 'embedded SQLite store', setup: async () => ({ env: {} }) },
  // 1.5 s, not longer: node:sqlite waits for the lock synchronously, so a longer hold stalls the
  // workers' event loops past the liveness margin (livenessMs 3 s, refreshed every second) and
  // live workers look dead — a different fault from this one.
  { name: 'embedded SQLite store, its write lock held 1.5 s at the scale-down', cycles: 2, setup: async () => ({ env: {}, slow: sqliteWriteLock(1500) }) },
  // Calls still running 3 s into the drain (a draining worker's liveness must outlast them).
  { name: 'embedded SQLite store, a vendor answering after 4 s', latencyMs: 4000, jobs: 120, cycles: 2, setup: async () => ({ env: {} }) },
];
if (binary) {
  cases.push({
    // 2 s: the writes queued meanwhile finish seconds later, but within the store client's
    // operation timeout (5 s). A write that times out at the client and lands later anyway can
    // undo newer writes on FerretDB v1 unless the store fences it (no atomic updates there, see
    // core/store/mongo.ts): a limit of that server, not what this test is about.
    name: 'MongoDB-wire store (FerretDB v1), frozen 2 s at the scale-down',
    // FerretDB v1 on SQLite is slow (seconds per write under this load): still far below the
    // pending timeout that a lost job would wait for.
    settleMs: 2 * SETTLE_MS,
    cycles: 2,
    setup: async () => {
      const server: StoreServer = await startStoreServer(binary, `scaledown_${randomBytes(3).toString('hex')}`);
      return {
        env: { MONGODB_URL: server.url },
        slow: () => async (during) => {
          server.freeze();
          await new Promise((r) => setTimeout(r, 2000));
          server.thaw();
          await during;
        },
        reader: () => createJobStore({ mongodbUrl: server.url, sqlitePath: '' }),
        close: () => server.close(),
      };
    },
  });
} else console.warn('scale-down: no FerretDB in VF_TESTENV_BIN (run through jest, whose global setup provides it); its case is skipped');

let plane: DataPlane | undefined;
let mock: MockProcess | undefined;
let cleanup: (() => Promise<void>) | undefined;
let reader: JobStore | undefined;

afterEach(async () => {
  await plane?.stop();
  await reader?.close().catch(() => undefined);
  await cleanup?.();
  await mock?.stop();
  [plane, mock, cleanup, reader] = [undefined, undefined, undefined, undefined];
});

describe.each(cases)('scale-down: all workers but one get SIGTERM at once ($name)', (c) => {
  test(`${c.cycles ?? CYCLES} times ${POOL} → 1 workers under a ${RPS} rps quota: every job completes within ${(c.settleMs ?? SETTLE_MS) / 1000} s, none twice`, async () => {
    mock = await startSyncMockProcess({ latencyMs: c.latencyMs ?? LATENCY_MS });
    const s = await c.setup();
    cleanup = s.close;
    plane = await startDataPlane({ VF_PENDING_TIMEOUT_SECONDS: String(PENDING_TIMEOUT_SECONDS), ...s.env });
    const p = plane;
    const slow = s.slow?.(p);
    reader = s.reader ? await s.reader() : undefined;
    const store = reader ?? p.store;
    const vendor = 'scaledown';
    await p.publish(`local/${vendor}`, [{ name: vendor, url: mock.fetchUrl, timeoutSeconds: 10, quota: { requestsPerSecond: RPS, burst: BURST } }]);

    const live: RunningProgram[] = [await p.startWorker(`local/${vendor}`, workerEnv)];
    const all: string[] = [];
    for (let cycle = 0; cycle < (c.cycles ?? CYCLES); cycle++) {
      // A backlog queued (the survivor of the last cycle already works on it), then back to a
      // full pool, and the pool busy at the vendor's quota.
      const ids = await submitAll(p, vendor, c.jobs ?? JOBS_PER_CYCLE);
      all.push(...ids);
      live.push(...(await Promise.all(Array.from({ length: POOL - live.length }, () => p.startWorker(`local/${vendor}`, workerEnv)))));
      const servedBefore = (await mock.counters()).served;
      await eventually('the full pool calls the vendor', async () => (await mock!.counters()).served >= servedBefore + 2 * RPS, 60_000, 50);
      const unfinished = all.length - (await store.countByStatus(vendor)).complete;

      // Scale down: every worker but the oldest one at once (a random survivor would do as well).
      const victims = live.splice(1);
      const downAt = Date.now();
      const terminated = Promise.all(victims.map((w) => w.stop(30_000))).then(() => undefined);
      await (slow ? slow(terminated) : terminated);
      const stoppedMs = Date.now() - downAt;

      try {
        await eventually(`every job of cycle ${cycle + 1} complete`, () => allComplete(store, vendor, all), c.settleMs ?? SETTLE_MS, 250);
      } catch (e) {
        console.log(await diagnose(p, store, vendor, all));
        throw e;
      }
      console.log(
        `scale-down (${c.name}) cycle ${cycle + 1}: ${unfinished} jobs unfinished at SIGTERM to ${victims.length} workers ` +
          `(gone after ${stoppedMs} ms); all ${all.length} complete ${Date.now() - downAt} ms after SIGTERM`,
      );
      // The scale-down happened with work in hand: the terminated workers held jobs waiting for quota.
      expect(unfinished).toBeGreaterThanOrEqual((POOL - 1) * CONCURRENCY / 2);
    }

    console.log(`scale-down (${c.name}): what the workers logged ${JSON.stringify(tally(p.workers), null, 1)}`);
    // Once each: one completion write per job (the workers' "job complete" lines, written only
    // by the write that won the compare-and-set) and one vendor call per job.
    expect(await settlementProblems(store, all, p.workers)).toEqual([]);
    const counters = (await (await fetch(`${mock.url}/_counters`)).json()) as { perKey: Record<string, number>; served: number };
    // A call is repeated legitimately only when the store failed to take a job's write (at least
    // once: the job then runs again); the slow MongoDB-wire case has such failures, the others none.
    const storeFailed = new Set(
      p.workers.flatMap((w) =>
        w.logs
          .filter((l) => l.msg === 'job processing failed; entry left for reclaim' && (l.err as { code?: string } | undefined)?.code === 'unavailable')
          .map((l) => String(l.request_id)),
      ),
    );
    const repeated = all.filter((id) => (counters.perKey[id] ?? 0) > 1);
    console.log(
      `scale-down (${c.name}): ${counters.served} vendor calls for ${all.length} jobs; ${repeated.length} jobs called more than once, ` +
        `${repeated.filter((id) => storeFailed.has(id)).length} of them after a store failure`,
    );
    const calledTwice = repeated.filter((id) => !storeFailed.has(id)).map((id) => `${id}: ${counters.perKey[id]} calls`);
    if (calledTwice.length > 0) console.log(await diagnose(p, store, vendor, calledTwice.map((l) => l.slice(0, 36)), true));
    expect(calledTwice).toEqual([]);
    expect(all.filter((id) => !counters.perKey[id])).toEqual([]);
  }, (c.cycles ?? CYCLES) * ((c.settleMs ?? SETTLE_MS) + 90_000));
});

/**
 * Submit n jobs, 10 POSTs at a time; a 503 (a slow MongoDB-wire store answering late) is
 * retried: only accepted jobs count.
 */
async function submitAll(p: DataPlane, vendor: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < n) {
        const i = next++;
        for (let tries = 0; ; tries++) {
          const res = await fetch(`${p.apiUrl}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ vendor, payload: { n: i } }) });
          if (res.status === 202) {
            ids.push(((await res.json()) as { request_id: string }).request_id);
            break;
          }
          if (![422, 503].includes(res.status) || tries > 50) throw new Error(`POST /jobs → ${res.status} ${await res.text()}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }),
  );
  return ids;
}

/** Every job of `ids` is complete (counted first: one query while most are not). */
async function allComplete(store: JobStore, vendor: string, ids: string[]): Promise<boolean> {
  if ((await store.countByStatus(vendor)).complete < ids.length) return false;
  for (const id of ids) if ((await store.get(id))?.status !== 'complete') return false;
  return true;
}

/** How often each worker said what (the take-over and conflict lines tell how the scale-down went). */
function tally(workers: RunningProgram[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const w of workers)
    for (const l of w.logs)
      if (typeof l.msg === 'string' && l.msg !== 'job complete' && l.level !== undefined && Number(l.level) >= 30) t[l.msg] = (t[l.msg] ?? 0) + (typeof l.count === 'number' ? l.count : 1);
  return t;
}

/** Where each unfinished job is: its stored state, the queue's view, and every log line naming it. */
async function diagnose(p: DataPlane, store: JobStore, vendor: string, ids: string[], evenComplete = false): Promise<string> {
  const lines: string[] = [];
  const groups = (await p.redis.call('XINFO', 'GROUPS', keys.stream(vendor, 'normal'))) as unknown[][];
  const pending = (await p.redis.call('XPENDING', keys.stream(vendor, 'normal'), keys.group)) as unknown[];
  lines.push(`queue: groups ${JSON.stringify(groups)}; XPENDING ${JSON.stringify(pending)}; delayed ${await p.redis.zcard(keys.delayed(vendor, 'normal'))}`);
  const entries = (await p.redis.xrange(keys.stream(vendor, 'normal'), '-', '+')) as [string, string[]][];
  for (const id of ids) {
    const job: Job | null = await store.get(id);
    if (job?.status === 'complete' && !evenComplete) continue;
    const inStream = entries.filter(([, f]) => f[1] === id).map(([e]) => e);
    lines.push(
      `${id}: ${job?.status} error=${job?.error} attempts=${job?.attempts} deadline in ${job ? Math.round((job.deadline_at.getTime() - Date.now()) / 1000) : '?'} s; stream entries ${JSON.stringify(inStream)}`,
    );
    for (const w of [...p.workers, p.api]) for (const l of w.logs) if (JSON.stringify(l).includes(id)) lines.push(`  ${w.name} ${JSON.stringify(l)}`);
  }
  return lines.join('\n');
}
