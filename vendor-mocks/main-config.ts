// Configuration of vendor-mocks/main.ts: environment first, command-line flags over it, checked
// by one zod schema. Pure: main.ts hands in process.env and process.argv.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DEFAULT_WEBHOOK_SECRET } from './signing.js';

const port = z.coerce.number().int().min(0).max(65535);
const jsonObject = z.string().transform((s, ctx) => {
  try {
    const v = JSON.parse(s) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* reported below */
  }
  ctx.addIssue({ code: 'custom', message: 'must be a JSON object, e.g. {"latencyMs": 20}' });
  return z.NEVER;
});

export const mainConfigSchema = z.object({
  /** Which mocks to start. Default both. */
  only: z.enum(['sync', 'async', 'both']).default('both'),
  /** Default 127.0.0.1 (0.0.0.0 in a container). */
  host: z.string().min(1).default('127.0.0.1'),
  syncPort: port.default(9101),
  asyncPort: port.default(9102),
  /** Where the async mock sends webhooks unless a request names its own callback_url. */
  webhookUrl: z.string().url().default('http://127.0.0.1:8080/vendor-webhook/async'),
  webhookSecret: z.string().min(1).default(DEFAULT_WEBHOOK_SECRET),
  /** Initial knobs, as JSON objects (see README.md). */
  syncKnobs: jsonObject.default({}),
  asyncKnobs: jsonObject.default({}),
});
export type MainConfig = z.infer<typeof mainConfigSchema>;

export const USAGE = `usage: vendor-mocks [--only sync|async|both] [--host H] [--sync-port P] [--async-port P]
                    [--webhook-url URL] [--webhook-secret whsec_...] [--sync-knobs JSON] [--async-knobs JSON]
environment (flags win): MOCKS_ONLY, MOCKS_HOST, SYNC_MOCK_PORT (9101), ASYNC_MOCK_PORT (9102),
  ASYNC_MOCK_WEBHOOK_URL (http://127.0.0.1:8080/vendor-webhook/async), ASYNC_MOCK_WEBHOOK_SECRET,
  SYNC_MOCK_KNOBS, ASYNC_MOCK_KNOBS`;

export function parseMainConfig(
  env: Record<string, string | undefined>,
  argv: string[],
): { ok: true; config: MainConfig } | { ok: false; problems: string[] } {
  let flags: Record<string, string | boolean | undefined>;
  try {
    flags = parseArgs({
      args: argv,
      options: {
        only: { type: 'string' },
        host: { type: 'string' },
        'sync-port': { type: 'string' },
        'async-port': { type: 'string' },
        'webhook-url': { type: 'string' },
        'webhook-secret': { type: 'string' },
        'sync-knobs': { type: 'string' },
        'async-knobs': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (e) {
    return { ok: false, problems: [e instanceof Error ? e.message : String(e)] };
  }
  if (flags.help) return { ok: false, problems: [] };
  const pick = (flag: string, envName: string): string | undefined => {
    const f = flags[flag];
    return typeof f === 'string' ? f : env[envName] === '' ? undefined : env[envName];
  };
  const parsed = mainConfigSchema.safeParse({
    only: pick('only', 'MOCKS_ONLY'),
    host: pick('host', 'MOCKS_HOST'),
    syncPort: pick('sync-port', 'SYNC_MOCK_PORT'),
    asyncPort: pick('async-port', 'ASYNC_MOCK_PORT'),
    webhookUrl: pick('webhook-url', 'ASYNC_MOCK_WEBHOOK_URL'),
    webhookSecret: pick('webhook-secret', 'ASYNC_MOCK_WEBHOOK_SECRET'),
    syncKnobs: pick('sync-knobs', 'SYNC_MOCK_KNOBS'),
    asyncKnobs: pick('async-knobs', 'ASYNC_MOCK_KNOBS'),
  });
  if (!parsed.success) return { ok: false, problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
  return { ok: true, config: parsed.data };
}
