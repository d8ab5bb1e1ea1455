// GET /jobs over real HTTP, a real redis-server and the SQLite store: 100,000 jobs inserted
// through the store (createMany, as POST /jobs/batch writes them), every page timed, a full walk
// while jobs keep being added, filters, include, and bad parameters.
import { startApi, startServices, postJson, type TestApi, type TestServices } from '../testing/api-app.js';
import type { NewJob } from '../core/job.js';
import { newRequestId } from './request-id.js';
import { lastIdOfMillisecond, type JobPage } from './list.js';

let s: TestServices;
let api: TestApi;
const TOTAL = 100_000;
/** Generous: a page reads ≤ 1,001 index entries; under nice -n 19 beside other work it still takes milliseconds. */
const PAGE_BOUND_MS = 1500;
/** What was stored before the walks, in id order. */
let initial: string[] = [];
/** Every 1,000th job is slowco's; one in ten of those failed. */
let slowcoFailed: string[] = [];
let t0 = 0;
/** Jobs the concurrent writers added during the full walk. */
const added: string[] = [];

beforeAll(async () => {
  s = await startServices();
  api = await startApi(s);
  const started = performance.now();
  t0 = Date.now() - 1000;
  // Increasing creation times, 1 ms apart per chunk of 5,000, so created_after has something to cut.
  for (let chunk = 0; chunk < TOTAL / 5000; chunk++) {
    const at = new Date(t0 - 1000 + chunk);
    const jobs: NewJob[] = Array.from({ length: 5000 }, (_, k) => {
      const n = chunk * 5000 + k;
      return { request_id: newRequestId(at.getTime()), vendor: n % 1000 === 0 ? 'slowco' : 'acme', payload: { n }, deadline_at: new Date(at.getTime() + 600_000) };
    });
    const outcomes = await s.store.createMany(jobs, at);
    if (!outcomes.every((o) => o.ok && o.created)) throw new Error('createMany did not store every job');
    initial.push(...jobs.map((j) => j.request_id));
  }
  initial = initial.sort();
  const slowco = (await s.store.listJobs({ vendor: 'slowco', limit: 1000 })).map((j) => j.request_id);
  for (const id of slowco.filter((_, i) => i % 10 === 0)) await s.store.fail(id, 'vendor_error: HTTP 500', new Date());
  slowcoFailed = slowco.filter((_, i) => i % 10 === 0);
  console.log(`list.test: ${TOTAL} jobs stored through createMany in ${Math.round(performance.now() - started)} ms`);
}, 120_000);
afterAll(async () => {
  await api?.close();
  await s?.close();
});

async function page(query: string): Promise<{ page: JobPage; ms: number }> {
  const start = performance.now();
  const res = await fetch(`${api.base}/jobs?${query}`);
  const body = (await res.json()) as JobPage;
  const ms = performance.now() - start;
  expect(res.status).toBe(200);
  return { page: body, ms };
}

const summary = (ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  const q = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! * 10) / 10;
  return `pages ${ms.length}, median ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${q(1)} ms`;
};

test('a full walk of 100,000 jobs while jobs are added: every stored job exactly once, ids ascending, every page in bounded time', async () => {
  let adding = true;
  // Concurrent writers: single POSTs and store batches, until the walk ends.
  const writer = (async () => {
    while (adding) {
      const res = await postJson(`${api.base}/jobs`, { vendor: 'acme', payload: { late: true } });
      added.push(((await res.json()) as { request_id: string }).request_id);
      const at = new Date();
      const jobs = Array.from({ length: 50 }, () => ({ request_id: newRequestId(at.getTime()), vendor: 'acme', payload: {}, deadline_at: at }));
      await s.store.createMany(jobs, at);
      added.push(...jobs.map((j) => j.request_id));
    }
  })();

  const seen: string[] = [];
  const times: number[] = [];
  let cursor: string | undefined;
  try {
    for (;;) {
      const { page: p, ms } = await page(`limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
      times.push(ms);
      seen.push(...p.jobs.map((j) => j.request_id));
      if (p.next_cursor === undefined) break;
      cursor = p.next_cursor;
      // Let the writers add a few between pages; once the initial jobs are walked, stop them.
      if (seen.length >= TOTAL) adding = false;
    }
  } finally {
    adding = false;
    await writer;
  }
  console.log(`list.test: full walk, limit=1000, with concurrent adds: ${summary(times)}; ${added.length} jobs added meanwhile`);
  expect(added.length).toBeGreaterThan(0);
  expect(new Set(seen).size).toBe(seen.length); // nothing repeated
  const seenSet = new Set(seen);
  expect(initial.filter((id) => !seenSet.has(id))).toEqual([]); // nothing missed
  for (let i = 1; i < seen.length; i++) if (!(seen[i - 1]! < seen[i]!)) throw new Error(`not ascending at ${i}`);
  expect(Math.max(...times)).toBeLessThan(PAGE_BOUND_MS);
}, 120_000);

test('filtered pages are bounded too, however deep: vendor, vendor+status, created_after near the end', async () => {
  const times: number[] = [];
  const timed = async (q: string) => {
    const r = await page(q);
    times.push(r.ms);
    return r.page;
  };
  // slowco's 100 jobs are spread over the whole table: one index walk, no scan of acme's.
  const slowco: string[] = [];
  let cursor: string | undefined;
  do {
    const p = await timed(`vendor=slowco&limit=30${cursor ? `&cursor=${cursor}` : ''}`);
    slowco.push(...p.jobs.map((j) => j.request_id));
    expect(p.jobs.every((j) => j.vendor === 'slowco')).toBe(true);
    cursor = p.next_cursor;
  } while (cursor);
  expect(slowco).toHaveLength(TOTAL / 1000);

  const failed = await timed('vendor=slowco&status=failed&limit=1000');
  expect(failed.jobs.map((j) => j.request_id)).toEqual([...slowcoFailed].sort());
  expect(failed.jobs[0]).toMatchObject({ status: 'failed', error: 'vendor_error: HTTP 500' });
  expect((await timed('status=failed&limit=1000')).jobs.map((j) => j.request_id)).toEqual([...slowcoFailed].sort());

  // The last chunk was created at t0 - 1000 + 19: created_after the chunk before it leaves 5,000 jobs.
  const lastChunk = await timed(`created_after=${new Date(t0 - 1000 + 18).toISOString()}&limit=1000`);
  expect(lastChunk.jobs).toHaveLength(1000);
  expect(lastChunk.jobs.every((j) => Date.parse(j.created_at) === t0 - 1000 + 19)).toBe(true);
  expect(lastChunk.jobs[0]!.request_id).toBe(initial[TOTAL - 5000]);
  // A cursor deep in the table: the last page.
  const last = await timed(`cursor=${initial[TOTAL - 11]}&vendor=acme&limit=10`);
  const after = [...initial.slice(TOTAL - 10), ...[...added].sort()].filter((id) => !slowco.includes(id)).slice(0, 10);
  expect(last.jobs.map((j) => j.request_id)).toEqual(after);
  console.log(`list.test: filtered and deep pages: ${summary(times)}`);
  expect(Math.max(...times)).toBeLessThan(PAGE_BOUND_MS);
});

test('no payload or result by default; include=payload,result adds them', async () => {
  const id = initial[0]!;
  const p = (await page(`limit=1`)).page;
  expect(p.jobs[0]!.request_id).toBe(id);
  expect(p.jobs[0]).not.toHaveProperty('payload');
  expect(p.next_cursor).toBe(id);

  await s.store.startAttempt(id, new Date(Date.now() + 60_000), new Date());
  await s.store.complete(id, { answer: 42 }, new Date());
  const plain = (await page('limit=1')).page.jobs[0]!;
  expect(plain).toMatchObject({ status: 'complete' });
  expect(plain).not.toHaveProperty('result');
  const withPayload = (await page('limit=1&include=payload')).page.jobs[0]!;
  expect(withPayload.payload).toEqual({ n: expect.any(Number) });
  expect(withPayload).not.toHaveProperty('result');
  const both = (await page('limit=1&include=payload,result')).page.jobs[0]!;
  expect(both).toMatchObject({ result: { answer: 42 }, payload: { n: expect.any(Number) } });
});

test('each listed job shows its priority (POST /jobs and POST /jobs/batch alike)', async () => {
  const single = await postJson(`${api.base}/jobs`, { vendor: 'otherco', priority: 'high', payload: { p: 1 } });
  expect(single.status).toBe(202);
  const batch = await postJson(`${api.base}/jobs/batch`, { jobs: [{ vendor: 'otherco', priority: 'low', payload: { p: 2 } }, { vendor: 'otherco', payload: { p: 3 } }] });
  expect(batch.status).toBe(200);
  // Two jobs of one batch may share a millisecond, so their order is not asserted here.
  const listed = (await page('vendor=otherco')).page.jobs;
  expect(listed.map((j) => j.priority).sort()).toEqual(['high', 'low', 'normal']);
  for (const j of listed) expect(j).not.toHaveProperty('payload');
  const withPayload = (await page('vendor=otherco&include=payload')).page.jobs;
  const byPayload = Object.fromEntries(withPayload.map((j) => [(j.payload as { p: number }).p, j.priority]));
  expect(byPayload).toEqual({ 1: 'high', 2: 'low', 3: 'normal' });
});

test('bad parameters → 400 problem+json naming each bad field', async () => {
  const res = await fetch(`${api.base}/jobs?limit=0&cursor=nope&status=done&vendor=Not_A_Label&created_after=yesterday&include=secrets`);
  expect(res.status).toBe(400);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as { errors: Array<{ field: string }> };
  expect(body.errors.map((e) => e.field).sort()).toEqual(['created_after', 'cursor', 'include', 'limit', 'status', 'vendor']);
  for (const q of ['limit=1001', 'limit=-1', 'limit=1.5', 'cursor=', 'created_after=2026-01-01', 'vendor=a&vendor=b']) {
    expect((await fetch(`${api.base}/jobs?${q}`)).status).toBe(400);
  }
});

test('lastIdOfMillisecond splits ids by their millisecond', () => {
  const ms = Date.parse('2026-03-01T10:00:00.123Z');
  const bound = lastIdOfMillisecond(ms);
  for (let i = 0; i < 100; i++) {
    expect(newRequestId(ms) <= bound).toBe(true);
    expect(newRequestId(ms + 1) > bound).toBe(true);
    expect(newRequestId(ms - 1) < bound).toBe(true);
  }
});
