// Baseline (a): the ceiling for an Express-based ingest — a bare Express 5 handler that does
// one awaited XADD and answers 202. Started as its own process, exactly like the api.
import express from 'express';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const app = express();
app.use(express.json({ limit: '256kb' }));
app.post('/jobs', async (req, res) => {
  const id = randomUUID();
  await redis.xadd('baseline:jobs', '*', 'id', id, 'body', JSON.stringify(req.body));
  res.status(202).json({ request_id: id });
});
const server = app.listen(Number(process.env.PORT ?? 8090), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  redis.disconnect();
});
