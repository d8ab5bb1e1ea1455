// Small HTTP helpers on node:http (no framework: the mocks must stay fast enough to be the
// "instant vendor" of the benchmarks).
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export class BadRequest extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    readonly title: string,
    readonly errors?: { field: string; message: string }[],
  ) {
    super(title);
  }
}

/** Read a JSON body (empty body → {}); BadRequest on bad JSON or when over `limitBytes`. */
export async function readJson(req: IncomingMessage, limitBytes = 1024 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) throw new BadRequest(413, `body over ${limitBytes} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new BadRequest(400, 'malformed JSON body');
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendProblem(
  res: ServerResponse,
  status: number,
  title: string,
  extra: { detail?: string; errors?: { field: string; message: string }[] } = {},
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify({ type: 'about:blank', title, status, ...extra });
  res.writeHead(status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * The key a request is counted under (perKey counters, failFirst per key): the first of the
 * body's request_id, job_id, key, id, the x-request-id header, else the body's canonical JSON
 * (sorted keys; a sha256 digest when longer than 200 characters).
 */
export function requestKey(body: unknown, headers: IncomingMessage['headers']): string {
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const b = body as Record<string, unknown>;
    for (const f of ['request_id', 'job_id', 'key', 'id']) {
      const v = b[f];
      if (typeof v === 'string' || typeof v === 'number') return String(v);
    }
  }
  const h = headers['x-request-id'];
  if (typeof h === 'string' && h !== '') return h;
  const json = canonicalJson(body);
  // Long payloads are keyed by a digest so that perKey stays small.
  return json.length <= 200 ? json : `sha256:${createHash('sha256').update(json).digest('hex').slice(0, 32)}`;
}

/** JSON with object keys sorted, so equal payloads give equal keys. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
