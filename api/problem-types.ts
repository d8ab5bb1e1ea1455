// GET /problems/:code — the page each problem `type` URI names (RFC 9457 §3.1.1: a type URI
// should resolve to human-readable documentation). Small static HTML, public like the probes:
// whoever reads an error must be able to follow its link without an API key.
import { Router } from 'express';
import { httpError, problemCodes, type ProblemCode } from './problem.js';

interface ProblemDoc {
  means: string;
  todo: string;
}

/** One entry per problem code (api/problem.ts); its status and title come from there. */
export const problemDocs: Record<ProblemCode, ProblemDoc> = {
  validation: {
    means: 'The request has the wrong shape: wrong types, a malformed request_id or Idempotency-Key, or a webhook body without request_id or data. `errors` lists each bad field.',
    todo: 'Fix the fields named in `errors` and send again.',
  },
  malformed_json: { means: 'The body is not valid JSON.', todo: 'Send valid JSON (UTF-8).' },
  too_deep: {
    means: 'The JSON is nested deeper than the limit (default 64 levels, VF_MAX_JSON_DEPTH), or holds a number that is not finite (such as 1e400).',
    todo: 'Flatten the payload, or ask the operator to raise the limit.',
  },
  unserializable: { means: 'The data cannot be stored as JSON.', todo: 'Send plain JSON values.' },
  payload_too_large: {
    means: 'The body is larger than the limit (default 256 KiB, VF_BODY_LIMIT); or a batch (POST /jobs/batch) is larger than VF_BATCH_BODY_LIMIT (default 5 MiB) or holds more jobs than VF_BATCH_MAX_JOBS (default 1000); or one job of a batch is larger than VF_BODY_LIMIT.',
    todo: 'Send a smaller body, or split the batch.',
  },
  unsupported_media_type: { means: 'The body uses a charset or content encoding the api does not read.', todo: 'Send UTF-8 JSON without content encoding.' },
  unknown_vendor: {
    means: 'No VendorPool declares this vendor, or the body names no vendor and no default vendor is configured.',
    todo: 'Name a declared vendor in `vendor`.',
  },
  callback_not_allowed: {
    means: 'The `callback_url` of POST /jobs names a host that is not on this client\'s callback allowlist, uses http where the allowlist permits only https, carries credentials, or this client (API key) is not configured for callbacks at all. `detail` says which.',
    todo: 'Use a host on your allowlist (https), or ask the operator to add it to your entry in VF_CALLBACK_CLIENTS. Private, loopback and link-local addresses must be allowlisted by IP or CIDR.',
  },
  not_found: { means: 'No such job, route, webhook endpoint or problem type.', todo: 'Check the id or the URL.' },
  conflict: {
    means: 'The webhook names a job of another vendor, or this webhook delivery is being handled right now, or a job kept changing while it was being cancelled.',
    todo: 'For a delivery in progress, deliver again after Retry-After; it is then answered as a duplicate. A cancel: send it again.',
  },
  idempotency_key_reused: {
    means: 'This Idempotency-Key was already used with another vendor or payload (compared canonically).',
    todo: 'Use a new key for a new request; repeat the first request exactly to get its request_id.',
  },
  idempotency_key_in_flight: {
    means: 'A request with this Idempotency-Key is still being handled.',
    todo: 'Send the same request again after Retry-After.',
  },
  unauthorized: {
    means: 'A valid `Authorization: Bearer <api key>` header is required, or a webhook signature is wrong or stale (tolerance 5 minutes).',
    todo: 'Send a valid API key; vendors sign webhooks with the current secret and clock.',
  },
  forbidden: {
    means: 'The route is for operators: it needs an admin key (VF_ADMIN_API_KEYS), and a client key was sent — or no admin key is configured at all, which closes the admin routes.',
    todo: 'Call it with an admin key; operators set VF_ADMIN_API_KEYS on the api.',
  },
  job_finished: {
    means: 'The job is already complete or failed, so it can no longer be cancelled. (Cancelling a cancelled job again is answered 200.)',
    todo: 'Read the job with GET /jobs/{request_id}; nothing is left to cancel.',
  },
  rate_limited: { means: 'More requests per second than this client (or webhook source) may send.', todo: 'Wait for Retry-After seconds.' },
  unavailable: {
    means: 'The job store or Redis cannot be reached, or the api is shutting down. Nothing was half-written.',
    todo: 'Retry later, with the same Idempotency-Key so that a retry never creates a second job.',
  },
  internal: { means: 'An unexpected error; the operators find it in the api log.', todo: 'Retry later; report it if it persists.' },
};

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** `code` spans for backticked words; everything else escaped. */
const prose = (s: string) => escapeHtml(s).replace(/`([^`]+)`/g, '<code>$1</code>');

export function problemPage(code: ProblemCode, doc: ProblemDoc): string {
  const { status, title } = problemCodes[code];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} — vendorfetch</title></head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>HTTP status: ${status} · problem type <code>/problems/${code.replaceAll('_', '-')}</code></p>
<h2>What it means</h2><p>${prose(doc.means)}</p>
<h2>What to do</h2><p>${prose(doc.todo)}</p>
<p>The whole API: <a href="../openapi.json">/openapi.json</a>.</p>
</body></html>
`;
}

export function problemTypesRouter(): Router {
  const pages = new Map(
    (Object.entries(problemDocs) as Array<[ProblemCode, ProblemDoc]>).map(([code, doc]) => [code.replaceAll('_', '-'), problemPage(code, doc)]),
  );
  const router = Router();
  router.get('/problems/:slug', (req, res) => {
    const page = pages.get(String(req.params['slug']));
    if (page === undefined) throw httpError('not_found', 'no such problem type');
    res.type('text/html').send(page);
  });
  return router;
}
