// Baseline for the overhead and memory benchmarks: the least a Node process can do with the
// same requests — plain node:http, jobs in a Map, no store, no Redis, no validation. What the
// benches measure beside it is then vendorfetch's own cost, not Node's or the network's.
// POST /jobs → 202 {request_id}; POST /vendor-webhook/<vendor> {request_id, data} marks the job
// complete; GET /jobs/<id> → {status}. Listens on PORT.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';

const jobs = new Map<string, 'pending' | 'complete'>();

const readBody = async (req: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

const server = createServer((req, res) => {
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  void (async () => {
    const body = await readBody(req);
    if (req.method === 'POST' && req.url === '/jobs') {
      JSON.parse(body);
      const id = randomUUID();
      jobs.set(id, 'pending');
      return send(202, { request_id: id });
    }
    if (req.method === 'POST' && req.url?.startsWith('/vendor-webhook/')) {
      const { request_id } = JSON.parse(body) as { request_id: string };
      jobs.set(request_id, 'complete');
      return send(200, { status: 'completed' });
    }
    if (req.method === 'GET' && req.url?.startsWith('/jobs/')) {
      const id = req.url.slice('/jobs/'.length);
      const status = jobs.get(id);
      return status === undefined ? send(404, { error: 'not found' }) : send(200, { request_id: id, status });
    }
    send(404, { error: 'not found' });
  })().catch((err: unknown) => send(400, { error: String(err) }));
});
server.keepAliveTimeout = 30_000;
server.listen(Number(process.env.PORT ?? 8092), '127.0.0.1');
// Nothing to drain: the benches stop it between phases.
process.on('SIGTERM', () => process.exit(0));
