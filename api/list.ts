// GET /jobs?vendor=&status=&created_after=&limit=&cursor=&include= — a client lists jobs in
// cursor pages. Why cursors and not offsets: request_ids are UUIDv7 (api/request-id.ts), so
// request_id order is creation order, and "after this id" is one index seek on both stores
// (JobStore.listJobs) however deep the page; an offset re-reads every row before it, and
// shifts when jobs are added meanwhile. Walking forward from the first page sees every job
// that existed when the walk began exactly once; jobs added meanwhile sort after the cursor
// (newer ids) and show up on later pages.
//
// Payloads and results are left out by default: a page of 1,000 jobs with 256 KiB payloads
// would be a quarter of a gigabyte. `include=payload`, `include=result` (or both, comma-
// separated) add them.
import { Router } from 'express';
import { isVendorfetchError, unavailable } from '../core/errors.js';
import { JOB_STATUSES, type JobStatus, type ListedJob } from '../core/job.js';
import { dnsLabel } from '../core/vendorpool.js';
import type { ApiDeps } from './deps.js';
import { jobView, type JobView } from './jobs.js';
import { validationError, type FieldError } from './problem.js';
import { isRequestId } from './submission.js';

export const DEFAULT_JOBS_PAGE = 100;
export const MAX_JOBS_PAGE = 1000;
const INCLUDES = ['payload', 'result'] as const;

export interface ListedJobView extends JobView {
  payload?: unknown;
}

export interface JobPage {
  jobs: ListedJobView[];
  /** Pass as `cursor` for the next page; absent on the last one. */
  next_cursor?: string;
}

/**
 * The greatest UUIDv7 of millisecond `ms`: every id minted at or before `ms` sorts at or
 * below it, every later one above. created_after becomes a seek on the id index with it (the
 * exact created_at filter still applies), so a late created_after skips the older jobs
 * without reading them. Ids that are not v7 (minted before v7 was adopted) are not ordered
 * by time; retention has removed them since.
 */
export function lastIdOfMillisecond(ms: number): string {
  const t = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0').slice(-12);
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7fff-ffff-ffffffffffff`;
}

interface ListQuery {
  vendor?: string;
  status?: JobStatus;
  createdAfter?: Date;
  cursor?: string;
  limit: number;
  include: Set<(typeof INCLUDES)[number]>;
}

const one = (v: unknown): string | undefined | null => (v === undefined ? undefined : typeof v === 'string' ? v : null);

/** Every bad query parameter at once, as POST /jobs lists every bad field. */
export function parseListQuery(q: Record<string, unknown>): ListQuery {
  const errors: FieldError[] = [];
  const out: ListQuery = { limit: DEFAULT_JOBS_PAGE, include: new Set() };
  const vendor = one(q['vendor']);
  if (vendor !== undefined) {
    if (vendor !== null && dnsLabel.safeParse(vendor).success) out.vendor = vendor;
    else errors.push({ field: 'vendor', detail: 'must be one vendor name (a DNS label)' });
  }
  const status = one(q['status']);
  if (status !== undefined) {
    if (status !== null && (JOB_STATUSES as readonly string[]).includes(status)) out.status = status as JobStatus;
    else errors.push({ field: 'status', detail: `must be one of ${JOB_STATUSES.join(', ')}` });
  }
  const after = one(q['created_after']);
  if (after !== undefined) {
    // RFC 3339 with a zone; Date.parse alone would take "2026" or local times.
    const ms = after !== null && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/i.test(after) ? Date.parse(after) : NaN;
    if (Number.isFinite(ms)) out.createdAfter = new Date(ms);
    else errors.push({ field: 'created_after', detail: 'must be an RFC 3339 timestamp with a zone, e.g. 2026-01-31T12:00:00Z' });
  }
  const limit = one(q['limit']);
  if (limit !== undefined) {
    const n = limit !== null && /^\d{1,5}$/.test(limit) ? Number(limit) : NaN;
    if (n >= 1 && n <= MAX_JOBS_PAGE) out.limit = n;
    else errors.push({ field: 'limit', detail: `must be an integer from 1 to ${MAX_JOBS_PAGE}` });
  }
  const cursor = one(q['cursor']);
  if (cursor !== undefined) {
    if (cursor !== null && isRequestId(cursor)) out.cursor = cursor.toLowerCase();
    else errors.push({ field: 'cursor', detail: 'must be a next_cursor from an earlier page' });
  }
  const include = one(q['include']);
  if (include !== undefined) {
    const parts = include === null ? [''] : include.split(',').map((s) => s.trim());
    for (const p of parts) {
      if ((INCLUDES as readonly string[]).includes(p)) out.include.add(p as (typeof INCLUDES)[number]);
      else errors.push({ field: 'include', detail: `comma-separated, each one of ${INCLUDES.join(', ')}` });
    }
  }
  if (errors.length > 0) throw validationError(errors);
  return out;
}

function listedView(job: ListedJob, include: ListQuery['include']): ListedJobView {
  const { result: _result, ...meta } = jobView({ ...job, payload: undefined });
  const view: ListedJobView = meta;
  if (include.has('payload')) view.payload = job.payload;
  if (include.has('result') && job.result !== undefined) view.result = job.result;
  return view;
}

export function listRouter(deps: ApiDeps): Router {
  const { store } = deps;
  const router = Router();

  router.get('/jobs', async (req, res) => {
    const q = parseListQuery(req.query as Record<string, unknown>);
    const seek = q.createdAfter === undefined ? undefined : lastIdOfMillisecond(q.createdAfter.getTime());
    const after = q.cursor === undefined ? seek : seek === undefined || q.cursor > seek ? q.cursor : seek;
    let jobs: ListedJob[];
    try {
      // One more than asked: tells whether a next page exists without another query.
      jobs = await store.listJobs({
        limit: q.limit + 1,
        withPayload: q.include.size > 0,
        ...(q.vendor === undefined ? {} : { vendor: q.vendor }),
        ...(q.status === undefined ? {} : { status: q.status }),
        ...(q.createdAfter === undefined ? {} : { createdAfter: q.createdAfter }),
        ...(after === undefined ? {} : { afterRequestId: after }),
      });
    } catch (e) {
      throw isVendorfetchError(e) ? e : unavailable('job store', e);
    }
    const page: JobPage = { jobs: jobs.slice(0, q.limit).map((j) => listedView(j, q.include)) };
    if (jobs.length > q.limit) page.next_cursor = jobs[q.limit - 1]!.request_id;
    res.json(page);
  });

  return router;
}
