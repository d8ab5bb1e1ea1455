// The CLI's HTTP client: the api's own routes, nothing else (the CLI is a client like any
// other, so it can never do what the API does not allow). A problem+json answer becomes a
// ProblemError that main.ts prints as one clear line and exits non-zero with.

export interface ClientOptions {
  baseUrl: string;
  /** Client key (VF_API_KEY): the /jobs routes. */
  apiKey?: string | undefined;
  /** Admin key (VF_ADMIN_API_KEY): the /vendors routes. */
  adminKey?: string | undefined;
}

interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: Array<{ field: string; detail: string }>;
}

/** The api answered with an error: its status and problem, worded for a terminal. */
// Plain fields, no parameter properties: the CLI's sources also run under Node's type stripping.
export class ProblemError extends Error {
  readonly status: number;
  readonly problem: ProblemBody;
  constructor(status: number, problem: ProblemBody) {
    const fields = (problem.errors ?? []).map((e) => `\n  ${e.field}: ${e.detail}`).join('');
    super(`${status} ${problem.title ?? 'error'}${problem.detail ? `: ${problem.detail}` : ''}${fields}`);
    this.status = status;
    this.problem = problem;
  }
}

export type Api = ReturnType<typeof apiClient>;

export function apiClient(opts: ClientOptions) {
  const base = opts.baseUrl.replace(/\/+$/, '');

  async function call<T>(method: string, path: string, body?: unknown, who: 'client' | 'admin' = 'client', headers: Record<string, string> = {}): Promise<T> {
    const key = who === 'admin' ? opts.adminKey : opts.apiKey;
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (e) {
      throw new Error(`cannot reach the api at ${base}: ${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message}`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) throw new ProblemError(res.status, (parsed as ProblemBody | undefined) ?? { title: res.statusText });
    return parsed as T;
  }

  const query = (q: Record<string, string | undefined>) => {
    const entries = Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined);
    return entries.length === 0 ? '' : `?${new URLSearchParams(entries).toString()}`;
  };

  return {
    submit: (job: unknown, idempotencyKey?: string) =>
      call<{ request_id: string }>('POST', '/jobs', job, 'client', idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
    submitBatch: (jobs: unknown[]) => call<BatchAnswer>('POST', '/jobs/batch', { jobs }),
    get: (id: string) => call<Record<string, unknown>>('GET', `/jobs/${encodeURIComponent(id)}`),
    list: (q: Record<string, string | undefined>) => call<{ jobs: Array<Record<string, unknown>>; next_cursor?: string }>('GET', `/jobs${query(q)}`),
    cancel: (id: string) => call<Record<string, unknown>>('POST', `/jobs/${encodeURIComponent(id)}/cancel`),
    deadLetters: (vendor: string, q: Record<string, string | undefined>) =>
      call<{ vendor: string; dead_letters: Array<Record<string, unknown>>; next_cursor?: string }>('GET', `/vendors/${encodeURIComponent(vendor)}/dead-letters${query(q)}`, undefined, 'admin'),
    replay: (vendor: string, body: { all: true } | { request_ids: string[] }) =>
      call<{ vendor: string; replayed: string[]; not_replayed: Array<{ request_id: string; reason: string }>; more: boolean }>(
        'POST',
        `/vendors/${encodeURIComponent(vendor)}/dead-letters/replay`,
        body,
        'admin',
      ),
    vendors: () => call<{ vendors: Array<Record<string, unknown> & { quota: Record<string, number> }> }>('GET', '/vendors', undefined, 'admin'),
  };
}

export interface BatchAnswer {
  accepted: number;
  rejected: number;
  results: Array<{ status: number; request_id?: string; replayed?: true; problem?: ProblemBody }>;
}
