// RFC 9457 problem details: the one shape every api error takes, the one table that gives each
// error code its HTTP status, and the one middleware that maps errors to problems. Handlers
// throw; nothing else writes an error response.
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { VendorfetchError, isVendorfetchError, type CoreErrorCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

export interface FieldError {
  /** The bad field: a body property (`vendor`, `payload`, `data`), a header or a path parameter. */
  field: string;
  detail: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The core's codes (a compile error until each has a status here) and the api's own. */
export type ProblemCode =
  | CoreErrorCode
  | 'validation'
  | 'malformed_json'
  | 'too_deep'
  | 'payload_too_large'
  | 'unknown_vendor'
  | 'callback_not_allowed'
  | 'not_found'
  | 'idempotency_key_reused'
  | 'idempotency_key_in_flight'
  | 'unauthorized'
  | 'forbidden'
  | 'job_finished'
  | 'rate_limited'
  | 'unsupported_media_type'
  | 'internal';

/**
 * Every problem code with the HTTP status it is answered with and its title: the one place
 * where error codes become statuses. `problem()` gives `type` as a path (`/problems/<code>`);
 * sendProblem makes it absolute against the documentation base (api/problem-types.ts serves
 * a page for each code).
 */
export const problemCodes: Record<ProblemCode, { status: number; title: string }> = {
  validation: { status: 400, title: 'Invalid request' },
  malformed_json: { status: 400, title: 'Malformed JSON' },
  too_deep: { status: 400, title: 'JSON nested too deeply' },
  unserializable: { status: 400, title: 'Data cannot be stored' },
  payload_too_large: { status: 413, title: 'Request body too large' },
  unknown_vendor: { status: 422, title: 'Unknown vendor' },
  callback_not_allowed: { status: 422, title: 'Callback URL not allowed' },
  not_found: { status: 404, title: 'Not found' },
  conflict: { status: 409, title: 'Conflict' },
  idempotency_key_reused: { status: 422, title: 'Idempotency-Key reused with another request' },
  idempotency_key_in_flight: { status: 409, title: 'Request with this Idempotency-Key in progress' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  job_finished: { status: 409, title: 'Job already finished' },
  rate_limited: { status: 429, title: 'Too many requests' },
  unavailable: { status: 503, title: 'Service unavailable' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  internal: { status: 500, title: 'Internal server error' },
};

const isProblemCode = (code: string): code is ProblemCode => Object.hasOwn(problemCodes, code);

export function problem(code: ProblemCode, detail?: string, errors?: FieldError[]): Problem {
  const { status, title } = problemCodes[code];
  return {
    type: `/problems/${code.replaceAll('_', '-')}`,
    title,
    status,
    ...(detail === undefined ? {} : { detail }),
    ...(errors === undefined ? {} : { errors }),
  };
}

/** The app.locals key under which createApp keeps the configured base of `type` URIs. */
export const PROBLEM_BASE_URL = 'problemBaseUrl';
const HOST = /^[A-Za-z0-9.:[\]-]+$/;

/**
 * A problem's `type` as an absolute URI (RFC 9457 asks for one that can be dereferenced):
 * the configured base (VF_PROBLEM_BASE_URL), else the origin the client called. An odd Host
 * header leaves the path relative rather than echoing it.
 */
export function problemTypeUri(res: Response, type: string): string {
  const configured = res.app?.locals[PROBLEM_BASE_URL] as string | undefined;
  let base = configured;
  if (base === undefined && res.req) {
    const host = res.req.host;
    if (host && HOST.test(host)) base = `${res.req.protocol}://${host}`;
  }
  return base === undefined ? type : `${base.replace(/\/+$/, '')}${type}`;
}

export function sendProblem(res: Response, p: Problem): void {
  const body: Problem = { ...p, type: problemTypeUri(res, p.type) };
  res.status(p.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
}

/** A client error: its problem code (which decides the status), message and optional field list. */
export const httpError = (code: ProblemCode, message: string, errors?: FieldError[]): VendorfetchError<ProblemCode> =>
  new VendorfetchError(code, message, {
    retryable: false,
    ...(errors === undefined ? {} : { details: { errors } }),
  });

export const validationError = (errors: FieldError[]): VendorfetchError<ProblemCode> =>
  httpError('validation', errors.map((e) => `${e.field}: ${e.detail}`).join('; '), errors);

/** Decide the problem for any thrown value. Pure, so it is unit-tested without HTTP. */
export function toProblem(err: unknown): Problem {
  if (isVendorfetchError(err) && isProblemCode(err.code)) {
    const errors = err.details?.['errors'] as FieldError[] | undefined;
    // Our messages are written for clients ("job store is unavailable"); a driver's message,
    // which can hold hosts or users, stays in `cause` and reaches only the log.
    return problem(err.code, err.message, errors);
  }
  // body-parser marks its errors with `type` and a 4xx `status`.
  const e = err as { type?: unknown; status?: unknown; limit?: unknown };
  switch (e?.type) {
    case 'entity.parse.failed':
      return problem('malformed_json', 'the request body is not valid JSON');
    case 'entity.too.large':
      return problem('payload_too_large', `the request body exceeds the limit of ${String(e.limit)} bytes`);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return problem('unsupported_media_type', 'unsupported content encoding or charset');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return problem('validation', 'the request body could not be read');
  }
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    // Another 4xx from express itself: keep its status, which says more than ours would.
    return { ...problem('validation', 'the request could not be processed'), status: e.status };
  }
  return problem('internal', 'an unexpected error occurred');
}

/** The error-mapping middleware: the last one in the chain. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const p = toProblem(err);
    if (p.status >= 500) {
      // Log the cause for operators (never the request body: it may hold PII).
      logger.error({ err, method: req.method, path: req.path, status: p.status }, 'request failed');
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    sendProblem(res, p);
  };
}

/** Unknown routes: 404 problem, not express' HTML page. */
export const notFoundHandler: RequestHandler = (req, res) => {
  sendProblem(res, problem('not_found', `no route for ${req.method} ${req.path}`));
};
