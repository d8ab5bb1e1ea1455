// What the api is built from. main.ts wires the real ones; tests wire real ones too (a private
// redis-server, an SQLite store in a temp dir).
import type { Redis } from 'ioredis';
import type { JobStore } from '../core/job.js';
import type { CallbackClient } from '../core/callback-policy.js';
import type { Logger } from '../core/logger.js';
import type { RegistryEntry } from '../core/registry.js';
import type { SecretResolver } from '../core/secrets.js';
import type { ApiMetrics } from './metrics.js';

export interface ApiOptions {
  /** Vendor for POST /jobs bodies without `vendor`. Default: none (such bodies get 422). */
  defaultVendor?: string | undefined;
  /** Largest accepted request body, bytes or a size string ("256kb"). Default 256 KiB. */
  bodyLimit?: number | string;
  /** Most jobs in one POST /jobs/batch (more → 413). Default 1000. */
  batchMaxJobs?: number;
  /** Largest POST /jobs/batch body, bytes or a size string; each job in it still obeys bodyLimit. Default 5 MiB. */
  batchBodyLimit?: number | string;
  /** Deepest JSON nesting of a request body (its own object is level 1) → else 400. Default 64. */
  maxJsonDepth?: number;
  /** Bearer tokens; empty or unset: no authentication. */
  apiKeys?: readonly string[];
  /** Admin bearer tokens for the operator routes; empty or unset: those routes answer 403 (closed). */
  adminApiKeys?: readonly string[];
  /** Requests per second per client (API key, else IP); unset or 0: no limit. */
  clientRateLimit?: number | undefined;
  /**
   * Requests per second per source IP on POST /vendor-webhook/* (its own budget, apart from
   * the client limit); 0: no limit. Default 1000.
   */
  webhookRateLimit?: number;
  /** How long a pending job may wait before the sweeper re-queues it. Default 600 s. */
  pendingTimeoutSeconds?: number;
  /** Webhook timestamp tolerance, both directions. Default 300 s. */
  webhookToleranceSeconds?: number;
  /**
   * Base URL of the problem-type pages: problems get `type` = `<base>/problems/<code>`.
   * Default: the scheme and host the client called (behind an ingress, set trustProxy too).
   */
  problemBaseUrl?: string | undefined;
  /** Completion-callback clients by client id (VF_CALLBACK_CLIENTS); unset: no client may ask for callbacks (422). */
  callbackClients?: ReadonlyMap<string, CallbackClient>;
  /** Express "trust proxy" (for req.ip behind an ingress). Default false. */
  trustProxy?: boolean | number | string;
}

/** The slice of RegistryView the api needs: an in-memory lookup, no Redis round trip. */
export interface VendorLookup {
  get(vendor: string): RegistryEntry | undefined;
}

export interface ApiDeps {
  store: JobStore;
  /**
   * Commands (XADD, SET NX, PING, rate limiting). Build it to fail fast while disconnected
   * (see createApiRedis) so that an outage answers 503 at once instead of queueing requests.
   */
  redis: Redis;
  registry: VendorLookup;
  secrets: SecretResolver;
  logger: Logger;
  metrics?: ApiMetrics;
  options?: ApiOptions;
  /** Set `draining` during shutdown: /readyz answers 503 so load balancers stop sending. */
  lifecycle?: { draining: boolean };
  now?: () => Date;
}
