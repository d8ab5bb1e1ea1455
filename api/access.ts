// Who may call the api and how often: optional bearer API keys and a per-client rate limit.
// Both are off unless configured. Probes, metrics and the vendors' webhook route are exempt
// (the webhook route authenticates by signature); app.ts decides where these are mounted.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger } from '../core/logger.js';
import { httpError } from './problem.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The index of the configured key that `token` equals, or -1. Constant time in the token. */
export function matchApiKey(token: string, keyDigests: readonly Buffer[]): number {
  // Compare fixed-length digests (no length leak) against every key (no early exit).
  const given = digest(token);
  let found = -1;
  keyDigests.forEach((k, i) => {
    if (timingSafeEqual(given, k)) found = i;
  });
  return found;
}

/** Where the rate limiter keys a client: its API key (by index, never the secret) or its IP. */
const clientOf = (req: Request): string =>
  req.res?.locals['apiKeyIndex'] !== undefined ? `key:${String(req.res.locals['apiKeyIndex'])}` : `ip:${req.ip ?? 'unknown'}`;

export function requireApiKey(apiKeys: readonly string[]): RequestHandler {
  const keyDigests = apiKeys.map(digest);
  return (req, res, next) => {
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    const index = token ? matchApiKey(token, keyDigests) : -1;
    if (index < 0) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      next(httpError('unauthorized', 401, 'a valid "Authorization: Bearer <api key>" header is required'));
      return;
    }
    res.locals['apiKeyIndex'] = index;
    next();
  };
}

/** Redis key prefix of the per-client counters (see core/keys.ts for every other key). */
export const RATE_LIMIT_PREFIX = 'vf:ratelimit';

/**
 * At most `perSecond` requests per client per second, counted in Redis so that every api
 * replica shares the budget. Over the limit → 429 with Retry-After. If Redis cannot answer,
 * the request goes through (fail open): the limiter protects capacity, and POST /jobs needs
 * Redis anyway, so it answers 503 on its own.
 */
export function rateLimit(redis: Redis, perSecond: number, logger: Logger): RequestHandler {
  const limiter = new RateLimiterRedis({ storeClient: redis, points: perSecond, duration: 1, keyPrefix: RATE_LIMIT_PREFIX });
  return (req, res, next) => {
    limiter.consume(clientOf(req)).then(
      () => next(),
      (rej: unknown) => {
        if (rej instanceof RateLimiterRes) {
          res.setHeader('Retry-After', String(Math.max(1, Math.ceil(rej.msBeforeNext / 1000))));
          next(httpError('rate_limited', 429, `more than ${perSecond} requests per second from this client`));
          return;
        }
        logger.warn({ err: rej }, 'rate limiter unavailable; letting the request through');
        next();
      },
    );
  };
}
