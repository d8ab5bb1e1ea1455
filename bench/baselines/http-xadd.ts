// Baseline (c): the physical limit of ingest on this machine — bare node:http, no framework,
// no store: parse the JSON body, XADD it, answer 202. The XADDs of one event-loop turn go to
// Redis as one pipeline (core/batch.ts), so the limit is the HTTP stack and Redis, not round
// trips. Nothing that queues each job in Redis can be faster. Its own process, like the api.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { batchPerTurn } from '../../core/batch.js';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');

const xadd = batchPerTurn<{ id: string; body: string }>(async (stream, entries) => {
  const pipeline = redis.pipeline();
  for (const e of entries) pipeline.xadd(stream, '*', 'id', e.id, 'body', e.body);
  for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
});

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/jobs') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const id = randomUUID();
    let body: string;
    try {
      body = JSON.stringify(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    } catch {
      res.writeHead(400).end();
      return;
    }
    xadd('baseline:jobs', { id, body }).then(
      () => res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ request_id: id })),
      () => res.writeHead(503).end(),
    );
  });
});
server.listen(Number(process.env.PORT ?? 8092), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  redis.disconnect();
});
