// Reading a JSON request body safely. JSON.parse itself is iterative in V8, but everything
// after it is not: JSON.stringify in the store codec, the worker's request to the vendor, and
// any recursive walk overflow the stack somewhere between a few thousand and ~10,000 levels —
// a nesting that fits in a few KB. And JSON.parse turns `1e400` into Infinity, which
// JSON.stringify then writes as `null` without a word. So before parsing, one iterative pass
// over the text refuses both: nesting deeper than the limit, and numbers that are not finite.
import express, { type RequestHandler } from 'express';
import { VendorfetchError } from '../core/errors.js';
import { httpError } from './problem.js';

/** Deepest JSON nesting accepted in a request body (the body's own object is level 1). */
export const DEFAULT_MAX_JSON_DEPTH = 64;

export type JsonScan =
  | { ok: true }
  | { ok: false; reason: 'too_deep'; limit: number }
  | { ok: false; reason: 'non_finite'; token: string };

// Characters a JSON number token is made of (a superset: JSON.parse rejects the bad ones).
const isNumberChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || c === 45 /* - */ || c === 43 /* + */ || c === 46 /* . */ || c === 101 /* e */ || c === 69; /* E */

/**
 * One pass over JSON text, no recursion: the deepest nesting of objects and arrays, and every
 * number that would not be finite. Strings are skipped (their brackets and digits are text).
 * It does not validate the syntax; JSON.parse does that afterwards.
 */
export function scanJson(text: string, maxDepth: number): JsonScan {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      // Jump to the closing quote: the next quote not escaped by an odd run of backslashes.
      let end = i;
      for (;;) {
        end = text.indexOf('"', end + 1);
        if (end < 0) return { ok: true }; // unterminated string: JSON.parse will say so
        let backslashes = 0;
        while (text.charCodeAt(end - 1 - backslashes) === 92) backslashes++;
        if (backslashes % 2 === 0) break;
      }
      i = end;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > maxDepth) return { ok: false, reason: 'too_deep', limit: maxDepth };
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      let end = i + 1;
      while (end < n && isNumberChar(text.charCodeAt(end))) end++;
      // Only an exponent or more than 300 digits can leave the range of a double (±1.8e308);
      // everything else needs no conversion here.
      const long = end - i > 300;
      if (long || text.slice(i, end).search(/[eE]/) >= 0) {
        const token = text.slice(i, end);
        if (!Number.isFinite(Number(token))) return { ok: false, reason: 'non_finite', token };
      }
      i = end - 1;
    }
  }
  return { ok: true };
}

/** A body limit as bytes: a number, or a size string as the config takes it ("256kb", "4mb", "1000"). */
export function sizeInBytes(limit: number | string): number {
  if (typeof limit === 'number') return limit;
  const m = /^(\d+)\s*(b|kb|mb)?$/i.exec(limit.trim());
  if (!m) throw new RangeError(`not a size: ${limit}`);
  const unit = (m[2] ?? 'b').toLowerCase();
  return Number(m[1]) * (unit === 'mb' ? 1024 * 1024 : unit === 'kb' ? 1024 : 1);
}

/** Parse JSON text or throw the client error (400) that says why not. */
export function parseJsonText(text: string, maxDepth: number): unknown {
  const scan = scanJson(text, maxDepth);
  if (!scan.ok) {
    if (scan.reason === 'too_deep') {
      throw new VendorfetchError('too_deep', `the JSON body is nested deeper than the limit of ${scan.limit} levels`, {
        retryable: false,
        details: { errors: [{ field: 'body', detail: `nested deeper than ${scan.limit} levels` }] },
      });
    }
    const shown = scan.token.length > 24 ? `${scan.token.slice(0, 20)}…` : scan.token;
    throw httpError('validation', `the number ${shown} is out of range (not finite)`, [
      { field: 'body', detail: `number ${shown} is not finite; numbers must lie within ±1.7976931348623157e308` },
    ]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw httpError('malformed_json', 'the request body is not valid JSON');
  }
}

/**
 * express middleware: the body as raw bytes (size limit → 413 from body-parser), then
 * parseJsonText into req.body. Any content type is read as JSON: clients that forget the
 * header (curl -d) still work, and a body that is not JSON gets the same 400 whatever it
 * claimed to be. A charset other than UTF-8 → 415. An empty body leaves req.body undefined.
 */
export function jsonBody(opts: { limit: number | string; maxDepth: number }): RequestHandler[] {
  const raw = express.raw({ limit: opts.limit, type: () => true });
  const parse: RequestHandler = (req, _res, next) => {
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      next(httpError('unsupported_media_type', `charset "${charset.slice(0, 32)}" is not supported; send UTF-8`));
      return;
    }
    const bytes: unknown = req.body;
    if (!Buffer.isBuffer(bytes) || bytes.length === 0) {
      req.body = undefined;
      next();
      return;
    }
    try {
      req.body = parseJsonText(bytes.toString('utf8'), opts.maxDepth);
      next();
    } catch (e) {
      next(e);
    }
  };
  return [raw, parse];
}
