// The VendorPool spec: one zod schema shared by the local supervisor, the controller and the
// data plane (the registry stores the parsed VendorSpec). The CRD's OpenAPI schema in crds/
// must accept and reject the same examples (tested in controller/). The Kubernetes envelope
// of a whole document (apiVersion, kind, metadata) is the controller's: controller/api-types.ts.
import { z } from 'zod';

/** A Kubernetes-style DNS label: also what a vendor name may be (it appears in Redis keys and URLs). */
export const dnsLabel = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label: lower-case letters, digits and "-"');

export const secretRefSchema = z.object({
  name: dnsLabel,
  key: z.string().min(1).max(253).regex(/^[-._a-zA-Z0-9]+$/),
});
export type SecretRef = z.infer<typeof secretRefSchema>;

export const quotaSchema = z
  .object({
    /** Calls the vendor may see in any rolling second, across every worker. */
    requestsPerSecond: z.number().int().min(1).max(100_000),
    /** How many of those calls may go back to back; never lifts the rolling-second total. Default: requestsPerSecond. */
    burst: z.number().int().min(1).max(100_000).optional(),
    /** Calls open at once across every worker. Default: unlimited (0). */
    maxInFlight: z.number().int().min(0).max(100_000).default(0),
  })
  .refine((q) => q.burst === undefined || q.burst <= q.requestsPerSecond, {
    message: 'burst must not exceed requestsPerSecond',
    path: ['burst'],
  });

export const retrySchema = z
  .object({
    maxAttempts: z.number().int().min(1).max(100).default(5),
    initialBackoffMs: z.number().int().min(1).max(3_600_000).default(200),
    maxBackoffMs: z.number().int().min(1).max(3_600_000).default(30_000),
  })
  .refine((r) => r.initialBackoffMs <= r.maxBackoffMs, {
    message: 'initialBackoffMs must not exceed maxBackoffMs',
    path: ['initialBackoffMs'],
  });

export const circuitBreakerSchema = z.object({
  consecutiveFailures: z.number().int().min(1).max(1000).default(5),
  halfOpenAfterSeconds: z.number().int().min(1).max(3600).default(30),
});

export const cleaningSchema = z.object({
  /** Field names removed wherever they appear (case-insensitive), added to the safe defaults. */
  drop: z.array(z.string().min(1)).max(200).default([]),
  /** Field names whose values become "[REDACTED]" wherever they appear (case-insensitive). */
  redact: z.array(z.string().min(1)).max(200).default([]),
});

export const cacheSchema = z.object({
  /** How long a vendor answer (cleaned) is reused for the same canonical payload. */
  ttlSeconds: z.number().int().min(1).max(604_800),
});

export const vendorSpecSchema = z
  .object({
    name: dnsLabel,
    mode: z.enum(['sync', 'async']).default('sync'),
    url: z.url({ protocol: /^https?$/ }),
    timeoutSeconds: z.number().int().min(1).max(300).default(10),
    /** Largest answer read from this vendor; a longer one fails the call. Default: the worker's VF_MAX_ANSWER_BYTES (4 MiB). */
    maxAnswerBytes: z.number().int().min(1024).max(256 * 1024 * 1024).optional(),
    /** Async only: how long a job waits for its webhook before it is retried or failed. */
    callbackTimeoutSeconds: z.number().int().min(1).max(86_400).optional(),
    /** Async only: the secret that signs the vendor's webhooks. */
    webhookSecretRef: secretRefSchema.optional(),
    quota: quotaSchema,
    retry: retrySchema.default({ maxAttempts: 5, initialBackoffMs: 200, maxBackoffMs: 30_000 }),
    circuitBreaker: circuitBreakerSchema.default({ consecutiveFailures: 5, halfOpenAfterSeconds: 30 }),
    cleaning: cleaningSchema.default({ drop: [], redact: [] }),
    /**
     * Stop calling this vendor: workers read nothing from its stream and hand back jobs waiting
     * for its quota; jobs stay pending with their attempts untouched until it is resumed
     * (README "Pausing a vendor"). Default false.
     */
    paused: z.boolean().default(false),
    /**
     * Opt-in result cache (sync vendors): a job with the same canonical payload within ttlSeconds
     * completes from the cached, cleaned answer, without a vendor call or quota. Default: off.
     */
    cache: cacheSchema.optional(),
  })
  .refine((v) => v.mode !== 'async' || v.callbackTimeoutSeconds !== undefined, {
    message: 'async vendors need callbackTimeoutSeconds',
    path: ['callbackTimeoutSeconds'],
  })
  .refine((v) => v.mode !== 'async' || v.webhookSecretRef !== undefined, {
    message: 'async vendors need webhookSecretRef',
    path: ['webhookSecretRef'],
  })
  .refine((v) => v.mode !== 'async' || v.cache === undefined, {
    message: 'the result cache is for sync vendors only',
    path: ['cache'],
  });
export type VendorSpec = z.infer<typeof vendorSpecSchema>;

export const workersSpecSchema = z
  .object({
    minReplicas: z.number().int().min(0).max(1000).default(1),
    maxReplicas: z.number().int().min(1).max(1000).default(10),
    /** desired replicas = clamp(ceil(lag / targetLagPerReplica), min, max) */
    targetLagPerReplica: z.number().int().min(1).max(1_000_000).default(100),
    scaleDownStabilizationSeconds: z.number().int().min(0).max(3600).default(60),
    /**
     * Who sets the worker Deployment's replicas. builtin: the controller, from the lag (the
     * fields above). external: an HPA or a KEDA ScaledObject; the controller never writes
     * replicas (local mode has no autoscaler and scales builtin either way).
     */
    scaling: z.enum(['builtin', 'external']).default('builtin'),
    /** Jobs one worker process handles at once. */
    concurrency: z.number().int().min(1).max(1000).default(20),
    image: z.string().min(1).optional(),
    resources: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((w) => w.minReplicas <= w.maxReplicas, {
    message: 'minReplicas must not exceed maxReplicas',
    path: ['minReplicas'],
  });
export type WorkersSpec = z.infer<typeof workersSpecSchema>;

export const vendorPoolSpecSchema = z
  .object({
    vendors: z.array(vendorSpecSchema).min(1).max(100),
    workers: workersSpecSchema.default({
      minReplicas: 1,
      maxReplicas: 10,
      targetLagPerReplica: 100,
      scaleDownStabilizationSeconds: 60,
      scaling: 'builtin',
      concurrency: 20,
    }),
  })
  .refine((s) => new Set(s.vendors.map((v) => v.name)).size === s.vendors.length, {
    message: 'vendor names must be unique within a pool',
    path: ['vendors'],
  });
export type VendorPoolSpec = z.infer<typeof vendorPoolSpecSchema>;

/** The effective burst: how many calls may go back to back. */
export const effectiveBurst = (v: VendorSpec): number => v.quota.burst ?? v.quota.requestsPerSecond;
