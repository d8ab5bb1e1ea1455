// The api as an express 5 app, built from its dependencies; main.ts makes it listen.
//
// Middleware order: metrics and access logs see every request; API keys and the per-client
// rate limit guard only the client routes (/jobs, /openapi.json) — probes and the vendors'
// signed webhook route (which has a limit of its own) are exempt; the operator routes
// (/vendors/…) take admin keys only, and are closed without one; one error mapper at the end.
// /metrics is NOT served here: it has a port of its own (core/probe-server.ts), off the ingress.
import express, { type Express, type RequestHandler } from 'express';
import type { Logger } from '../core/logger.js';
import { adminGuard, clientGuard, createLimiter, RATE_LIMIT_PREFIX } from './access.js';
import { batchRouter } from './batch.js';
import { cancelRouter } from './cancel.js';
import { deadLettersRouter } from './dead-letters.js';
import type { ApiDeps } from './deps.js';
import { jobsRouter } from './jobs.js';
import { listRouter } from './list.js';
import { createApiMetrics, httpMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { errorHandler, notFoundHandler, problem, PROBLEM_BASE_URL, sendProblem } from './problem.js';
import { problemTypesRouter } from './problem-types.js';
import { vendorStatusRouter } from './vendor-status.js';
import { webhookRouter } from './webhook.js';

export type { ApiDeps } from './deps.js';

/**
 * One debug line per answered request (method, route, status, duration). At info level this
 * middleware is not even installed: the ingest path is benchmarked, and bodies are never
 * logged (they may hold PII). 5xx are logged by the error mapper at error level.
 */
function accessLog(logger: Logger): RequestHandler | undefined {
  if (!logger.isLevelEnabled('debug')) return undefined;
  return (req, res, next) => {
    const start = performance.now();
    res.once('finish', () => {
      logger.debug(
        {
          method: req.method,
          path: req.route ? `${req.baseUrl}${String(req.route.path)}` : req.path,
          status: res.statusCode,
          ms: Math.round((performance.now() - start) * 10) / 10,
          request_id: res.locals['request_id'] as string | undefined,
        },
        'request',
      );
    });
    next();
  };
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms).unref()),
  ]);

export function createApp(deps: ApiDeps): Express {
  const metrics = deps.metrics ?? createApiMetrics();
  const opts = deps.options ?? {};
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // job reads change; a weak ETag per answer is only work
  if (opts.trustProxy !== undefined) app.set('trust proxy', opts.trustProxy);

  app.use(httpMetrics(metrics));
  if (deps.lifecycle) {
    const lifecycle = deps.lifecycle;
    // While draining, answer and close: keep-alive clients reconnect to another replica.
    app.use((_req, res, next) => {
      if (lifecycle.draining) res.setHeader('Connection', 'close');
      next();
    });
  }
  const log = accessLog(deps.logger);
  if (log) app.use(log);

  if (opts.problemBaseUrl !== undefined) app.locals[PROBLEM_BASE_URL] = opts.problemBaseUrl;

  // /health: the original brief's name for the liveness probe; clients written against it call it.
  app.get(['/healthz', '/health'], (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    if (deps.lifecycle?.draining) {
      sendProblem(res, problem('unavailable', 'shutting down'));
      return;
    }
    const [store, redis] = await Promise.allSettled([
      withTimeout(deps.store.ping(), 2000, 'store'),
      withTimeout(deps.redis.ping(), 2000, 'redis'),
    ]);
    const down = [...(store.status === 'rejected' ? ['store'] : []), ...(redis.status === 'rejected' ? ['redis'] : [])];
    if (down.length > 0) {
      sendProblem(res, problem('unavailable', `not reachable: ${down.join(', ')}`));
      return;
    }
    res.json({ status: 'ready' });
  });

  // Client routes.
  const guards: RequestHandler[] = [];
  const limit =
    opts.clientRateLimit && opts.clientRateLimit > 0
      ? { perSecond: opts.clientRateLimit, limiter: createLimiter(deps.redis, opts.clientRateLimit, RATE_LIMIT_PREFIX, deps.logger) }
      : undefined;
  if ((opts.apiKeys && opts.apiKeys.length > 0) || limit) guards.push(clientGuard({ apiKeys: opts.apiKeys ?? [], limit }));
  const openApiJson = JSON.stringify(openApiDocument);
  app.get('/openapi.json', ...guards, (_req, res) => {
    res.type('application/json').send(openApiJson);
  });
  if (guards.length > 0) app.use('/jobs', ...guards);
  // POST /jobs first: each request enters every router mounted before its own, and this one
  // carries the ingest load. The routers' paths do not overlap, so their order is otherwise free.
  app.use(jobsRouter(deps, metrics));
  app.use(batchRouter(deps, metrics));
  app.use(listRouter(deps));
  app.use(cancelRouter(deps, metrics));

  // Vendors' webhooks (signed, not API-keyed).
  app.use(webhookRouter(deps, metrics));
  // Public: whoever reads a problem must be able to follow its `type` link without a key.
  app.use(problemTypesRouter());

  // Operator routes: admin keys only (403 to a client key, 401 without a key, 403 when no
  // admin key is configured).
  app.use('/vendors', adminGuard({ adminKeys: opts.adminApiKeys ?? [], clientKeys: opts.apiKeys ?? [] }));
  app.use(deadLettersRouter(deps, metrics));
  app.use(vendorStatusRouter(deps));

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}
