// Pure decisions about what a client sent: the lenient forms of POST /jobs, ids, idempotency
// keys. Hand-written checks rather than a zod schema on this path on purpose: it is the
// benchmarked hot path, and zod's object/record parsing copies the whole payload (up to the
// body limit) only to tell us "it is an object".
import { z } from 'zod';
import { DEFAULT_PRIORITY, PRIORITIES, type Priority } from '../core/job.js';
import type { FieldError } from './problem.js';

/**
 * `callback_url` of POST /jobs: an absolute http(s) URL. Validated with zod (a short string, so
 * none of the payload-copying cost above); whether this client may use its host is decided
 * afterwards against the client's allowlist (core/callback-policy.ts → 422 callback_not_allowed).
 */
export const callbackUrlSchema = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .describe('Where the final state (complete, failed or cancelled) is POSTed, signed in the Standard Webhooks form with this client\'s callback secret. Its host must be on the client\'s callback allowlist (else 422); https unless the allowlist entry permits http.');

export type Submission =
  | { ok: true; vendor: string | undefined; priority: Priority; payload: Record<string, unknown>; callbackUrl: string | undefined }
  | { ok: false; errors: FieldError[] };

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/**
 * Accepted forms:
 * - `{"vendor": "v", "payload": {...}}` — the documented one (other top-level fields are ignored);
 * - `{"vendor": "v", ...rest}` — no `payload`: the rest of the body is the payload;
 * - either without `vendor` — `vendor` is undefined here; the caller applies the default vendor.
 * `priority` (high | normal | low, default normal) and `callback_url` are top-level fields in
 * both forms, never part of the payload.
 */
export function parseSubmission(body: unknown): Submission {
  if (!isPlainObject(body)) {
    return { ok: false, errors: [{ field: 'body', detail: `must be a JSON object, got ${typeName(body)}` }] };
  }
  const errors: FieldError[] = [];
  // `priority` and `callback_url` are, like `vendor`, never part of the payload (in the lenient form too).
  const { vendor, payload, priority, callback_url: callbackUrl, ...rest } = body;
  if (vendor !== undefined && typeof vendor !== 'string') {
    errors.push({ field: 'vendor', detail: `must be a string, got ${typeName(vendor)}` });
  }
  if (priority !== undefined && !(PRIORITIES as readonly unknown[]).includes(priority)) {
    errors.push({ field: 'priority', detail: `must be one of ${PRIORITIES.join(', ')}` });
  }
  if (payload !== undefined && !isPlainObject(payload)) {
    errors.push({ field: 'payload', detail: `must be a JSON object, got ${typeName(payload)}` });
  }
  if (callbackUrl !== undefined) {
    const r = callbackUrlSchema.safeParse(callbackUrl);
    if (!r.success) errors.push({ field: 'callback_url', detail: r.error.issues[0]?.message ?? 'must be an absolute http(s) URL' });
  }
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    vendor: vendor as string | undefined,
    priority: (priority as Priority | undefined) ?? DEFAULT_PRIORITY,
    payload: payload === undefined ? rest : (payload as Record<string, unknown>),
    callbackUrl: callbackUrl as string | undefined,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** request_ids are UUIDs (v7 from newRequestId; any version is accepted); anything else cannot name a job. */
export const isRequestId = (s: unknown): s is string => typeof s === 'string' && UUID.test(s);

/** Idempotency-Key: 1–255 visible ASCII characters (no spaces or control characters). */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export type IdempotencyKey = { ok: true; key: string | undefined } | { ok: false; error: FieldError };

export function parseIdempotencyKey(header: string | string[] | undefined): IdempotencyKey {
  if (header === undefined) return { ok: true, key: undefined };
  if (Array.isArray(header) || !IDEMPOTENCY_KEY.test(header)) {
    return {
      ok: false,
      error: { field: 'Idempotency-Key', detail: 'must be one header of 1 to 255 visible ASCII characters' },
    };
  }
  return { ok: true, key: header };
}
