// The api's configuration: every environment variable it reads, parsed once by zod.
// Pure (takes the env as an argument); main.ts is the only caller that passes process.env.
import { z } from 'zod';
import { blankToUndefined, intWithDefault, logLevel, optionalString, optionalUrl, parseEnv, type EnvResult } from '../core/env.js';
import { mongoInsertBatchEnv, mongoWriteConcernEnv } from '../core/store/index.js';
import { ANONYMOUS_CLIENT, callbackClientsEnv, clientIdOfApiKey } from '../core/callback-policy.js';

export const apiEnvSchema = z.object({
  /** Port to listen on. Default 8080. */
  PORT: intWithDefault(8080, 0, 65535),
  /** Bind address. Default 0.0.0.0 (all interfaces). */
  HOST: z.string().min(1).default('0.0.0.0'),
  /** Port of GET /metrics, apart from the public port (keep it off the ingress); 0 picks a free one. Default 8083. */
  API_METRICS_PORT: intWithDefault(8083, 0, 65535),
  /** Redis for queue, registry, replay guard, rate limits. Default redis://127.0.0.1:6379. */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  /** MongoDB job store; unset → embedded SQLite at VF_SQLITE_PATH. */
  MONGODB_URL: optionalString.pipe(z.url({ protocol: /^mongodb(\+srv)?$/ }).optional()),
  /** MongoDB write concern of every write: `majority` or a number of members ≥ 1; overrides `w` in the URL. Default majority. */
  VF_MONGODB_WRITE_CONCERN: mongoWriteConcernEnv,
  /** Most new jobs per MongoDB insert command (group commit); 1 = one insert per job (default). See core/store/mongo.ts. */
  VF_MONGODB_INSERT_BATCH: mongoInsertBatchEnv,
  /** SQLite file used when MONGODB_URL is unset. Default .data/vendorfetch.db. */
  VF_SQLITE_PATH: z.string().min(1).default('.data/vendorfetch.db'),
  /** Vendor for POST /jobs bodies without "vendor". Default: none (→ 422). */
  VF_DEFAULT_VENDOR: optionalString,
  /** Largest request body, e.g. 256kb, 1mb, or bytes. Default 256kb. */
  VF_BODY_LIMIT: z
    .string()
    .regex(/^\d+\s*(b|kb|mb)?$/i, 'a size such as 256kb, 1mb or a number of bytes')
    .default('256kb'),
  /** Most jobs in one POST /jobs/batch; more → 413. Default 1000. */
  VF_BATCH_MAX_JOBS: intWithDefault(1000, 1, 100_000),
  /** Largest POST /jobs/batch body (each job in it still obeys VF_BODY_LIMIT), e.g. 5mb. Default 5mb. */
  VF_BATCH_BODY_LIMIT: z
    .string()
    .regex(/^\d+\s*(b|kb|mb)?$/i, 'a size such as 5mb, 512kb or a number of bytes')
    .default('5mb'),
  /** Deepest JSON nesting of a request body (its own object is level 1); deeper → 400. Default 64. */
  VF_MAX_JSON_DEPTH: intWithDefault(64, 2, 1000),
  /** Comma-separated bearer tokens; unset → no authentication. */
  VF_API_KEYS: optionalString.transform((s) =>
    s === undefined ? [] : s.split(',').map((k) => k.trim()).filter((k) => k !== ''),
  ),
  /**
   * Comma-separated admin bearer tokens for the operator routes (dead letters), apart from
   * VF_API_KEYS; unset → the admin routes answer 403 to everyone (closed by default).
   */
  VF_ADMIN_API_KEYS: optionalString.transform((s) =>
    s === undefined ? [] : s.split(',').map((k) => k.trim()).filter((k) => k !== ''),
  ),
  /**
   * Completion-callback clients, JSON `[{"apiKey": "<one of VF_API_KEYS>", "secret": "whsec_…", "allow": ["hooks.example.com", "*.example.org", "http://10.1.2.3", "10.0.0.0/8"]}]`
   * (an entry without apiKey: requests without a key, when VF_API_KEYS is unset). Holds secrets: set it from a Secret.
   * The workers need the same value. Unset → callback_url is refused for every client (422).
   */
  VF_CALLBACK_CLIENTS: callbackClientsEnv,
  /** Requests per second per client (API key, else IP); unset → no limit. */
  VF_CLIENT_RATE_LIMIT: z.preprocess(
    blankToUndefined,
    z.coerce.number().int().min(1).max(1_000_000).optional(),
  ),
  /** Webhook requests per second per source IP; 0 turns the limit off. Default 1000. */
  VF_WEBHOOK_RATE_LIMIT: intWithDefault(1000, 0, 1_000_000),
  /** Seconds a pending job waits before the sweeper re-queues it. Default 600. */
  VF_PENDING_TIMEOUT_SECONDS: intWithDefault(600, 1, 86_400),
  /** Seconds in-flight requests get to finish on SIGTERM/SIGINT. Default 10. */
  VF_SHUTDOWN_GRACE_SECONDS: intWithDefault(10, 0, 600),
  /** Folder of mounted secrets (<dir>/<name>/<key>), tried before VF_SECRET_* variables. */
  VF_SECRETS_DIR: optionalString,
  /** Express "trust proxy" hop count (for client IPs behind an ingress). Default 0. */
  VF_TRUST_PROXY: intWithDefault(0, 0, 10),
  /** Base URL of problem `type` URIs (<base>/problems/<code>); unset → the scheme and host the client called. */
  VF_PROBLEM_BASE_URL: optionalUrl(/^https?$/),
  LOG_LEVEL: logLevel,
});

export type ApiConfig = z.infer<typeof apiEnvSchema>;

/** A key in both lists would make a client an operator: refused at start-up (never printing the key). */
const separateKeys = (c: ApiConfig): boolean => !c.VF_ADMIN_API_KEYS.some((k) => c.VF_API_KEYS.includes(k));

export function parseApiConfig(env: Record<string, string | undefined>): EnvResult<ApiConfig> {
  const r = parseEnv(apiEnvSchema, env);
  if (r.ok && !separateKeys(r.config)) return { ok: false, problems: ['VF_ADMIN_API_KEYS: a key is also in VF_API_KEYS; admin keys must differ from client keys'] };
  if (r.ok) {
    // An entry no request can ever match is a typo; say so at start-up rather than 422 later.
    const known = new Set(r.config.VF_API_KEYS.length === 0 ? [ANONYMOUS_CLIENT] : r.config.VF_API_KEYS.map(clientIdOfApiKey));
    const unknown = [...r.config.VF_CALLBACK_CLIENTS.keys()].filter((id) => !known.has(id));
    if (unknown.length > 0) {
      return { ok: false, problems: [`VF_CALLBACK_CLIENTS: ${unknown.length} entr${unknown.length === 1 ? 'y names' : 'ies name'} no client: an apiKey must be one of VF_API_KEYS (and an entry without apiKey needs VF_API_KEYS unset)`] };
    }
  }
  return r;
}
