// The async mock vendor: POST /fetch with a request_id (or job_id) answers 202 at once, then
// POSTs a Standard-Webhooks-signed `{"request_id": "...", "data": {...}}` to the callback URL.
// Callback URL: the request's `callback_url` if present, else the configured `webhookUrl`
// (the product knows its own webhook endpoint, e.g. http://127.0.0.1:8080/vendor-webhook/async).
import type { IncomingMessage } from 'node:http';
import { type AsyncKnobs, type AsyncKnobsInput, asyncKnobsSchema, mergeKnobs, parseKnobs } from './config.js';
import { emptyCounters } from './counters.js';
import { vendorData } from './fixture.js';
import { sendJson } from './http-util.js';
import { type MockRuntimeOptions, type Prepared, type RunningMock, startMockServer } from './mock-server.js';
import { createWebhookDispatcher } from './webhook-sender.js';

export type AsyncMockOptions = MockRuntimeOptions & AsyncKnobsInput;
export type AsyncMock = RunningMock<AsyncKnobs>;

interface AcceptCtx {
  idField: 'request_id' | 'job_id';
  id: string;
  url: string;
}

function prepare(body: unknown, knobs: AsyncKnobs, _req: IncomingMessage): Prepared<AcceptCtx> {
  const b = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const errors: { field: string; message: string }[] = [];
  let idField: AcceptCtx['idField'] = 'request_id';
  let id = b.request_id;
  if (id === undefined && b.job_id !== undefined) {
    idField = 'job_id';
    id = b.job_id;
  }
  if (typeof id !== 'string' || id === '') errors.push({ field: 'request_id', message: 'a non-empty request_id (or job_id) string is required' });
  let url: string | null = knobs.webhookUrl;
  if (b.callback_url !== undefined) {
    if (typeof b.callback_url === 'string' && URL.canParse(b.callback_url) && /^https?:/.test(b.callback_url)) url = b.callback_url;
    else errors.push({ field: 'callback_url', message: 'must be an http(s) URL' });
  } else if (url === null) {
    errors.push({ field: 'callback_url', message: 'no callback_url in the request and no webhookUrl configured' });
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, ctx: { idField, id: id as string, url: url as string } };
}

export async function startAsyncMock(opts: AsyncMockOptions = {}): Promise<AsyncMock> {
  const { host, port, now, random, ...knobInput } = opts;
  const initialKnobs = parseKnobs(asyncKnobsSchema, knobInput);
  const counters = emptyCounters();
  const dispatcher = createWebhookDispatcher({ counters, random: random ?? Math.random });
  return startMockServer<AsyncKnobs, AcceptCtx>(
    {
      kind: 'async',
      initialKnobs,
      merge: (current, update) => mergeKnobs(asyncKnobsSchema, current, update),
      prepare,
      answer: ({ body, key, ctx, knobs, res }) => {
        counters.accepted++;
        dispatcher.schedule({ url: ctx.url, idField: ctx.idField, id: ctx.id, data: vendorData(body, key), knobs });
        sendJson(res, 202, { [ctx.idField]: ctx.id, status: 'accepted' });
      },
      showKnobs: (k) => ({ ...k, webhookSecret: k.webhookSecret === undefined ? '(default)' : '(set)' }),
      counters,
      onClose: () => dispatcher.close(),
    },
    { host, port, now, random },
  );
}
