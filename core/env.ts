// Building blocks for the programs' environment schemas, and the one way to parse them: every
// problem at once, one line each, so an operator fixes them in one go. Pure: each main.ts is
// the only caller that passes process.env.
import { z } from 'zod';

/** An empty variable counts as unset (not as 0, which is what Number('') would give). */
export const blankToUndefined = (v: unknown): unknown => (typeof v === 'string' && v.trim() === '' ? undefined : v);

export const optionalString = z
  .string()
  .optional()
  .transform((s) => (s === undefined || s.trim() === '' ? undefined : s.trim()));

export const intWithDefault = (def: number, min: number, max: number) =>
  z.preprocess(blankToUndefined, z.coerce.number().int().min(min).max(max).default(def));

export const optionalUrl = (protocol: RegExp) => z.preprocess(blankToUndefined, z.url({ protocol }).optional());

/** pino level. Default info. */
export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

export type EnvResult<T> = { ok: true; config: T } | { ok: false; problems: string[] };

export function parseEnv<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): EnvResult<z.infer<S>> {
  const r = schema.safeParse(env);
  if (r.success) return { ok: true, config: r.data };
  return { ok: false, problems: r.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`) };
}
