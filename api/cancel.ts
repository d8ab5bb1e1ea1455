// POST /jobs/{id}/cancel: a client stops a job it no longer needs (terminal status `cancelled`).
//
// Why POST …/cancel and not DELETE /jobs/{id}: the job is not removed — GET /jobs/{id} keeps
// showing it, as `cancelled`, until retention deletes it — and a DELETE would promise that it
// is gone (clients, caches and proxies treat a deleted resource as gone). A sub-route names the
// action, as Stripe's and Google's APIs (AIP-136) do, and leaves DELETE free to mean "forget
// the job" one day. The route is idempotent all the same: cancelling a cancelled job answers
// 200 again.
//
// The store decides (store.cancel is a compare-and-set from pending|processing); the worker
// and the webhook route find the job finished and change nothing (worker/process.ts says how
// a call already in flight ends).
import { Router } from 'express';
import { isVendorfetchError, unavailable } from '../core/errors.js';
import { isFinished, type Job } from '../core/job.js';
import * as queue from '../core/queue.js';
import type { ApiDeps } from './deps.js';
import { jobView } from './jobs.js';
import type { ApiMetrics } from './metrics.js';
import { httpError, validationError } from './problem.js';
import { isRequestId } from './submission.js';

/** Reads before giving up when a replay (failed → pending) keeps racing our cancel. */
const CANCEL_TRIES = 3;

export function cancelRouter(deps: ApiDeps, metrics: ApiMetrics): Router {
  const { store, redis, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const fromStore = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p;
    } catch (e) {
      throw isVendorfetchError(e) ? e : unavailable('job store', e);
    }
  };

  const router = Router();
  router.post('/jobs/:id/cancel', async (req, res) => {
    const id = req.params['id'];
    res.locals['request_id'] = id;
    if (!isRequestId(id)) throw validationError([{ field: 'id', detail: 'must be a request_id (a UUID)' }]);
    for (let tries = 0; tries < CANCEL_TRIES; tries++) {
      const job: Job | null = await fromStore(store.get(id));
      if (job === null) throw httpError('not_found', `no job ${id}`);
      if (job.status === 'cancelled') {
        res.json(jobView(job));
        return;
      }
      if (isFinished(job.status)) throw httpError('job_finished', `job ${id} is already ${job.status}; it cannot be cancelled`);
      const at = now();
      // False: the job finished (or was replayed) since our read; read again and answer that.
      if (!(await fromStore(store.cancel(id, at)))) continue;
      metrics.jobsCancelled.inc({ vendor: job.vendor });
      logger.info({ request_id: id, vendor: job.vendor, was: job.status, attempts: job.attempts }, 'job cancelled');
      // Tidying only: a retry promoted anyway finds the job finished and is acknowledged unsent.
      await queue.forgetJob(redis, job.vendor, id).catch((err: unknown) => {
        logger.warn({ err, request_id: id, vendor: job.vendor }, 'could not drop the scheduled retry of a cancelled job');
      });
      res.json(jobView({ ...job, status: 'cancelled', completed_at: at, updated_at: at }));
      return;
    }
    throw httpError('conflict', `job ${id} kept changing while being cancelled; try again`);
  });
  return router;
}
