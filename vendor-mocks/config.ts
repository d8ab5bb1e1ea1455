// Knobs of the mock vendors: one zod schema, defaults documented here and in README.md.
// POST /_config takes any subset (a partial) and merges it over the current knobs.
import { z } from 'zod';

/** A delay: a fixed number of ms, or a uniform pick in [min, max]. */
export const delaySchema = z.union([
  z.number().min(0),
  z
    .object({ min: z.number().min(0), max: z.number().min(0) })
    .refine((d) => d.max >= d.min, { message: 'max must be >= min' }),
]);
export type Delay = z.infer<typeof delaySchema>;

const rate = z.number().min(0).max(1);

/** Knobs shared by both mocks (how POST /fetch is answered). */
export const fetchKnobsSchema = z.object({
  /** Delay before answering an admitted request. Default 0. */
  latencyMs: delaySchema.default(0),
  /** Probability (0..1) that an admitted request is answered `errorStatus`. Default 0. */
  errorRate: rate.default(0),
  /** Status used by errorRate and failFirst. Default 500. */
  errorStatus: z.number().int().min(500).max(599).default(500),
  /** Fail the first N admitted calls with `errorStatus`, then recover. Default 0. */
  failFirst: z.number().int().min(0).default(0),
  /** 'key': the first N calls of EACH request key fail; 'call': the first N calls overall. Default 'key'. */
  failFirstPer: z.enum(['key', 'call']).default('key'),
  /** Strict limit: at most this many served calls in any rolling 1000 ms; over it → 429 + violation. Default null (off). */
  limitPerSecond: z.number().int().min(1).nullable().default(null),
  /** At most this many requests open at once; over it → 429 + concurrencyViolation. Default null (off). */
  concurrencyLimit: z.number().int().min(1).nullable().default(null),
  /** Answer the next N admitted calls 429 with Retry-After (a vendor asking to slow down). Default 0. */
  throttleNext: z.number().int().min(0).default(0),
  /** Probability (0..1) of such a 429. Default 0. */
  throttleRate: rate.default(0),
  /** Retry-After (seconds) of throttle 429s. Default 1. */
  retryAfterSeconds: z.number().int().min(0).default(1),
  /** Never answer admitted calls (the socket stays open until the client gives up). Default false. */
  hang: z.boolean().default(false),
});
export type FetchKnobs = z.infer<typeof fetchKnobsSchema>;

/** Knobs of the async mock's webhook delivery (read when a request is accepted). */
export const webhookKnobsSchema = z.object({
  /**
   * Where webhooks go, e.g. http://127.0.0.1:8080/vendor-webhook/async. A `callback_url` in the
   * request body wins over it. Default null: then a request without callback_url gets 400.
   */
  webhookUrl: z.string().url().nullable().default(null),
  /** Standard Webhooks secret `whsec_<base64>` (bare base64 is accepted too). Default DEFAULT_WEBHOOK_SECRET. */
  webhookSecret: z.string().min(1).optional(),
  /** Delay between the 202 and the webhook. Default 100. */
  delayMs: delaySchema.default(100),
  /** Deliver every webhook twice with the same webhook-id. Default false. */
  duplicate: z.boolean().default(false),
  /** Gap between the two deliveries of a duplicate. Default 50. */
  duplicateGapMs: z.number().min(0).default(50),
  /** Deliver after `lateDelayMs` instead of `delayMs`. Default false. */
  late: z.boolean().default(false),
  /** Default 10000. */
  lateDelayMs: z.number().min(0).default(10_000),
  /**
   * Collect accepted requests into batches (closed after `delayMs` from the first, or at
   * `outOfOrderBatchSize`) and deliver each batch newest-first, one after another. Default false.
   */
  outOfOrder: z.boolean().default(false),
  /** Default 10. */
  outOfOrderBatchSize: z.number().int().min(1).default(10),
  /** Accept but never deliver. Default false. */
  never: z.boolean().default(false),
  /** Sign with a wrong key (negative tests). Default false. */
  wrongSignature: z.boolean().default(false),
  /** Sign correctly but with a timestamp `staleBySeconds` in the past. Default false. */
  staleTimestamp: z.boolean().default(false),
  /** Default 600 (twice the usual 5-minute tolerance). */
  staleBySeconds: z.number().int().min(1).default(600),
  /** Delivery attempts on 5xx / 408 / 429 / connection errors before giving up. Default 4. */
  webhookMaxAttempts: z.number().int().min(1).max(20).default(4),
  /** First retry waits this long, doubling each time. Default 200. */
  webhookRetryBaseMs: z.number().min(0).default(200),
  /** Per-attempt timeout. Default 5000. */
  webhookTimeoutMs: z.number().min(1).default(5000),
});
export type WebhookKnobs = z.infer<typeof webhookKnobsSchema>;

export const syncKnobsSchema = fetchKnobsSchema;
export type SyncKnobs = FetchKnobs;
export const asyncKnobsSchema = fetchKnobsSchema.extend(webhookKnobsSchema.shape);
export type AsyncKnobs = z.infer<typeof asyncKnobsSchema>;

/** The input form (all optional): what factories and POST /_config accept. */
export type SyncKnobsInput = z.input<typeof syncKnobsSchema>;
export type AsyncKnobsInput = z.input<typeof asyncKnobsSchema>;

/**
 * Merge a partial update over current knobs. Only the keys present in `update` change
 * (zod's `.partial()` would otherwise re-apply defaults to absent keys).
 */
export function mergeKnobs<S extends z.ZodObject>(
  schema: S,
  current: z.infer<S>,
  update: unknown,
): { ok: true; knobs: z.infer<S> } | { ok: false; errors: { field: string; message: string }[] } {
  if (typeof update !== 'object' || update === null || Array.isArray(update)) {
    return { ok: false, errors: [{ field: '', message: 'expected a JSON object' }] };
  }
  const known = new Set(Object.keys(schema.shape));
  const unknownKeys = Object.keys(update).filter((k) => !known.has(k));
  if (unknownKeys.length > 0) {
    return { ok: false, errors: unknownKeys.map((k) => ({ field: k, message: 'unknown knob' })) };
  }
  const parsed = schema.safeParse({ ...(current as object), ...(update as object) });
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })),
    };
  }
  return { ok: true, knobs: parsed.data as z.infer<S> };
}

/** A delay in ms from a fixed value or a range, drawn with `random` (0..1). */
export const pickDelay = (d: Delay, random: () => number): number =>
  typeof d === 'number' ? d : d.min + (d.max - d.min) * random();

/** Parse a factory's knob input; throws one readable error naming every bad or unknown knob. */
export function parseKnobs<S extends z.ZodObject>(schema: S, input: Record<string, unknown>): z.infer<S> {
  const unknownKeys = Object.keys(input).filter((k) => !(k in schema.shape));
  const parsed = schema.safeParse(input);
  const problems = [
    ...unknownKeys.map((k) => `${k}: unknown knob`),
    ...(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)),
  ];
  if (problems.length > 0 || !parsed.success) throw new Error(`invalid knobs: ${problems.join('; ')}`);
  return parsed.data as z.infer<S>;
}
