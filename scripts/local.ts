// Local mode: every vendorfetch program on one machine, for the Quick start and demos.
// Starts (or reuses) Redis, the vendor mocks, the api and the local controller (which runs
// the workers from examples/vendorpools/), prints where each listens, and stops them all on
// Ctrl-C. Each program is a child process started exactly as a user would start it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '../testing/ports.js';
import { chooseLogFormat, colorSupported, lineFormatter } from './pretty-logs.js';

const node = process.execPath;
const children: { name: string; child: ChildProcess }[] = [];
let stopping = false;
// The programs log JSON; a person at a terminal sees one readable line per event (VF_LOG_FORMAT).
const formatLine = lineFormatter(chooseLogFormat(process.env, process.stdout.isTTY === true), { colorize: colorSupported });

function run(name: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(args[0]!, args.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = `[${name}] `;
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = '';
    stream?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) process.stdout.write(formatLine(name, line) + '\n');
    });
  }
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${prefix}exited (${signal ?? code}); stopping everything`);
      void stop(1);
    }
  });
  children.push({ name, child });
  return child;
}

async function stop(code: number): Promise<never> {
  stopping = true;
  // Reverse order of start-up: controller (and its workers) first, Redis last.
  for (const { child } of [...children].reverse()) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const exited = new Promise((r) => child.once('exit', r));
      const timeout = new Promise((r) => setTimeout(r, 15_000).unref());
      if ((await Promise.race([exited.then(() => 'ok'), timeout.then(() => 'timeout')])) === 'timeout') child.kill('SIGKILL');
    }
  }
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
  process.exit(code);
}

let redisDir: string | undefined;

async function main(): Promise<void> {
  const apiPort = Number(process.env.PORT ?? 8080);
  const syncPort = 9101;
  const asyncPort = 9102;

  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const port = await freePort();
    redisDir = mkdtempSync(path.join(os.tmpdir(), 'vf-local-redis-'));
    run('redis', ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], {});
    await waitForPort(port);
    redisUrl = `redis://127.0.0.1:${port}`;
  }

  // One signing secret per run, shared by the async mock (signer) and the api (verifier).
  const webhookSecret = `whsec_${randomBytes(24).toString('base64')}`;
  mkdirSync('.data', { recursive: true });
  const common = { REDIS_URL: redisUrl, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' };

  run('mocks', [node, 'dist/vendor-mocks/main.js'], {
    ...common,
    SYNC_MOCK_PORT: String(syncPort),
    ASYNC_MOCK_PORT: String(asyncPort),
    ASYNC_MOCK_WEBHOOK_SECRET: webhookSecret,
    ASYNC_MOCK_WEBHOOK_URL: `http://127.0.0.1:${apiPort}/vendor-webhook/async`,
  });
  run('api', [node, 'dist/api/main.js'], { ...common, PORT: String(apiPort), VF_SECRET_ASYNC_WEBHOOK_SECRET: webhookSecret });
  run('controller', [node, 'dist/controller/local-main.js'], {
    ...common,
    VF_POOLS_DIR: process.env.VF_POOLS_DIR ?? 'examples/vendorpools',
    VF_WEBHOOK_BASE_URL: `http://127.0.0.1:${apiPort}`,
  });
  await Promise.all([waitForPort(apiPort, 30_000), waitForPort(syncPort, 30_000), waitForPort(asyncPort, 30_000)]);

  console.log(`
vendorfetch is up (local mode). Ctrl-C stops everything.
  api          http://127.0.0.1:${apiPort}   (POST /jobs, GET /jobs/{id}, /openapi.json; /metrics on :${process.env.API_METRICS_PORT ?? 8083})
  sync mock    http://127.0.0.1:${syncPort}/fetch   (counters: /_counters)
  async mock   http://127.0.0.1:${asyncPort}/fetch   (counters: /_counters)
  redis        ${redisUrl}
  store        .data/vendorfetch.db (SQLite)
  workers      from ${process.env.VF_POOLS_DIR ?? 'examples/vendorpools'}/ (see [controller] lines)
  webhooks     the async vendor signs with ${webhookSecret}
               (this run only; the Postman collection in docs/postman/ needs it as webhookSecret)
Try:
  curl -s -X POST localhost:${apiPort}/jobs -H 'content-type: application/json' -d '{"vendor":"sync","payload":{"q":"hello"}}'
`);
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
main().catch((err: unknown) => {
  console.error(err);
  void stop(1);
});
