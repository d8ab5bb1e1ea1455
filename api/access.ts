// Who may call the api and how often: optional bearer API keys and per-client rate limits.
// Both are off unless configured (the webhook route's limit is on by default). Probes and the
// vendors' webhook route need no API key (the webhook route authenticates by signature);
// app.ts and webhook.ts decide where these are mounted. Admin routes take admin keys only, and
// are closed when none is configured (adminGuard).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
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

/** The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 9110 §11.1). */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^bearer[ \t]+(\S.*)$/i.exec(header ?? '');
  const token = m?.[1]?.trim();
  return token === '' ? undefined : token;
}

/** Redis key prefixes of the per-client counters (see core/keys.ts for every other key). */
export const RATE_LIMIT_PREFIX = 'vf:ratelimit';
export const WEBHOOK_RATE_LIMIT_PREFIX = 'vf:ratelimit:webhook';

/** Answers whether `client` may make one more request now; never throws. */
export type Limiter = (client: string) => Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }>;

/**
 * At most `perSecond` requests per client per second, counted in Redis so that every api
 * replica shares the budget. If Redis cannot answer, the request goes through (fail open): the
 * limiter protects capacity, and the routes behind it need Redis anyway, so they answer 503
 * on their own.
 */
export function createLimiter(redis: Redis, perSecond: number, keyPrefix: string, logger: Logger): Limiter {
  const limiter = new RateLimiterRedis({ storeClient: redis, points: perSecond, duration: 1, keyPrefix });
  return (client) =>
    limiter.consume(client).then(
      () => ({ ok: true }) as const,
      (rej: unknown) => {
        if (rej instanceof RateLimiterRes) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(rej.msBeforeNext / 1000)) } as const;
        logger.warn({ err: rej }, 'rate limiter unavailable; letting the request through');
        return { ok: true } as const;
      },
    );
}

const ipOf = (req: Request): string => `ip:${req.ip ?? 'unknown'}`;

function tooMany(res: Response, retryAfterSeconds: number, perSecond: number) {
  res.setHeader('Retry-After', String(retryAfterSeconds));
  return httpError('rate_limited', `more than ${perSecond} requests per second from this client`);
}

export interface ClientGuardOptions {
  /** Bearer tokens; empty: no authentication. */
  apiKeys: readonly string[];
  /** Per-client limit (requests/s) and its limiter; unset: no limit. */
  limit?: { perSecond: number; limiter: Limiter } | undefined;
}

/**
 * API key check and per-client rate limit in one step, limit first: a client is its API key
 * (by digest, never the secret) when the key is valid, else its IP. So failed authentications
 * use up the caller's IP budget: guessing keys quickly ends in 429, not in endless 401s.
 * Sets res.locals.clientId (what Idempotency-Keys are scoped by).
 */
export function clientGuard(opts: ClientGuardOptions): RequestHandler {
  const keyDigests = opts.apiKeys.map(digest);
  return (req, res, next) => {
    let clientId: string | undefined;
    if (keyDigests.length > 0) {
      const token = bearerToken(req.headers.authorization);
      const index = token ? matchApiKey(token, keyDigests) : -1;
      // The key's digest, not its position in the list: reordering keys changes no scope.
      if (index >= 0) clientId = `key:${keyDigests[index]!.toString('hex').slice(0, 16)}`;
    }
    const authenticated = keyDigests.length === 0 || clientId !== undefined;
    const unauthorized = () => {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return httpError('unauthorized', 'a valid "Authorization: Bearer <api key>" header is required');
    };
    const proceed = () => {
      if (!authenticated) return next(unauthorized());
      if (clientId !== undefined) res.locals['clientId'] = clientId;
      next();
    };
    if (!opts.limit) return proceed();
    const { perSecond, limiter } = opts.limit;
    void limiter(clientId ?? ipOf(req)).then((r) => (r.ok ? proceed() : next(tooMany(res, r.retryAfterSeconds, perSecond))));
  };
}

/** A per-source-IP limit for routes without API keys (the webhook route). */
export function ipRateLimit(perSecond: number, limiter: Limiter): RequestHandler {
  return (req, res, next) => {
    void limiter(ipOf(req)).then((r) => (r.ok ? next() : next(tooMany(res, r.retryAfterSeconds, perSecond))));
  };
}

export interface AdminGuardOptions {
  /** Admin bearer tokens (VF_ADMIN_API_KEYS); empty: every admin request is refused (403). */
  adminKeys: readonly string[];
  /** Client keys (VF_API_KEYS): a client key on an admin route is told 403, not 401. */
  clientKeys: readonly string[];
}

/**
 * Admin routes (dead letters): an admin key → through, with res.locals.adminId (the key's
 * digest prefix, for the audit log; never the secret); a client key → 403; no key or an
 * unknown one → 401. No admin key configured → 403 for everyone: closed by default, so an
 * api deployed without thinking about it never exposes operator routes.
 */
export function adminGuard(opts: AdminGuardOptions): RequestHandler {
  const adminDigests = opts.adminKeys.map(digest);
  const clientDigests = opts.clientKeys.map(digest);
  return (req, res, next) => {
    if (adminDigests.length === 0) return next(httpError('forbidden', 'admin routes are closed: no admin key is configured (VF_ADMIN_API_KEYS)'));
    const token = bearerToken(req.headers.authorization);
    // Both lists are always compared (no early exit): the time does not tell which kind a key is.
    const admin = token ? matchApiKey(token, adminDigests) : -1;
    const client = token ? matchApiKey(token, clientDigests) : -1;
    if (admin >= 0) {
      res.locals['adminId'] = `admin:${adminDigests[admin]!.toString('hex').slice(0, 16)}`;
      return next();
    }
    if (client >= 0) return next(httpError('forbidden', 'this route needs an admin key; a client key is not enough'));
    res.setHeader('WWW-Authenticate', 'Bearer');
    return next(httpError('unauthorized', 'a valid "Authorization: Bearer <admin key>" header is required'));
  };
}
