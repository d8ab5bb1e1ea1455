// The overhead bench's stopwatch for async jobs: an HTTP relay between the async mock vendor
// and the receiver of its webhooks (vendorfetch's api, or the bare baseline). It notes when a
// webhook arrives, passes it on unchanged (the signature covers the raw bytes), and once the
// receiver has answered asks GET /jobs/<id> until the job shows complete: the time between the
// two is what a client waits after the vendor has delivered. Runs in the bench process, so both
// the receiver under test and the baseline pay the same extra hop.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { sleep } from './support.js';

export interface WebhookRelay {
  /** Base URL to give as the webhook base (the worker appends /vendor-webhook/<vendor>). */
  url: string;
  /** Where webhooks go now, e.g. http://127.0.0.1:8080 (the path is kept). */
  target: string;
  /** Milliseconds from arrival to "GET shows complete", one per webhook since the last take(). */
  take(): number[];
  /** Webhooks whose job never showed complete (receiver error, or still not complete after 10 s). */
  failures: number;
  close(): Promise<void>;
}

const readBody = async (req: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

/** GET until complete; the first GET is sent as soon as the receiver has answered the webhook. */
async function untilComplete(base: string, id: string, timeoutMs = 10_000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const res = await request(`${base}/jobs/${id}`);
    const job = (await res.body.json()) as { status?: string };
    if (job.status === 'complete') return true;
    await sleep(1);
  }
  return false;
}

export async function startWebhookRelay(): Promise<WebhookRelay> {
  let samples: number[] = [];
  const relay: WebhookRelay = {
    url: '',
    target: '',
    take: () => {
      const taken = samples;
      samples = [];
      return taken;
    },
    failures: 0,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  const server: Server = createServer((req, res) => {
    const arrived = performance.now();
    void (async () => {
      const body = await readBody(req);
      const target = relay.target;
      const forwarded = await request(`${target}${req.url ?? '/'}`, {
        method: 'POST',
        headers: Object.fromEntries(
          ['content-type', 'webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => [h, String(req.headers[h] ?? '')]),
        ),
        body,
      });
      const answer = await forwarded.body.text();
      res.writeHead(forwarded.statusCode, { 'content-type': String(forwarded.headers['content-type'] ?? 'application/json') });
      res.end(answer);
      const { request_id: id } = JSON.parse(body.toString('utf8')) as { request_id: string };
      const ok = forwarded.statusCode >= 200 && forwarded.statusCode < 300;
      if (ok && (await untilComplete(target, id))) samples.push(performance.now() - arrived);
      else relay.failures++;
    })().catch(() => {
      relay.failures++;
      if (!res.headersSent) res.writeHead(502).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return relay;
}
