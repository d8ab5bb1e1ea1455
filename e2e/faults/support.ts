// What every fault test ends with, and the hostile vendors they use. Real processes (api and
// workers from dist/), a real redis-server, the SQLite store, real HTTP vendors.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { JobStore } from '../../core/job.js';
import { freePort, waitForPort } from '../../testing/ports.js';
import type { RunningProgram } from '../../testing/programs.js';

/**
 * The one assertion of the fault suite, as the list of its violations (a test expects []):
 * every accepted job ended complete, or failed with a reason; and no job was completed twice
 * (counted from the programs' own log lines, written only by the write that won the store's
 * compare-and-set: a worker's "job complete", and the api's "webhook received" with
 * completed: true for async jobs — pass the api among `workers` to count those).
 */
export async function settlementProblems(store: JobStore, ids: string[], workers: RunningProgram[]): Promise<string[]> {
  const problems: string[] = [];
  for (const id of ids) {
    const job = await store.get(id);
    if (!job) problems.push(`${id}: missing`);
    else if (job.status === 'failed' && !job.error) problems.push(`${id}: failed without a reason`);
    else if (job.status !== 'complete' && job.status !== 'failed') problems.push(`${id}: still ${job.status}`);
  }
  const completions = new Map<string, number>();
  for (const w of workers)
    for (const line of w.logs)
      if ((line.msg === 'job complete' || (line.msg === 'webhook received' && line.completed === true)) && typeof line.request_id === 'string')
        completions.set(line.request_id, (completions.get(line.request_id) ?? 0) + 1);
  for (const [id, n] of completions) if (n > 1) problems.push(`${id}: completed ${n} times`);
  return problems;
}

/** The request_ids of every job of `vendor` in the store, accepted or not (listJobs, page by page). */
export async function storedIds(store: JobStore, vendor: string): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const page = await store.listJobs({ vendor, limit: 500, ...(ids.length > 0 ? { afterRequestId: ids[ids.length - 1]! } : {}) });
    ids.push(...page.map((j) => j.request_id));
    if (page.length < 500) return ids;
  }
}

/** Every job of `ids` is finished (complete or failed). */
export async function allFinished(store: JobStore, ids: string[]): Promise<boolean> {
  for (const id of ids) {
    const s = (await store.get(id))?.status;
    if (s !== 'complete' && s !== 'failed') return false;
  }
  return true;
}

export interface TestVendor {
  url: string;
  calls: number;
  close(): Promise<void>;
}

/** A vendor on 127.0.0.1 whose every answer `handler` writes (after reading the request). */
export async function startVendor(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestVendor> {
  const v = { calls: 0 } as TestVendor;
  const server: Server = createServer((req, res) => {
    v.calls++;
    req.resume();
    req.on('end', () => handler(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  v.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fetch`;
  v.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return v;
}

/** A redis-server on a fixed port that can be stopped and started again (a restart, not a flush). */
export interface RestartableRedis {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

export async function restartableRedis(): Promise<RestartableRedis> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-faults-redis-'));
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const r: RestartableRedis = {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      // No persistence: a restart loses everything, the harder case (connections drop AND data goes).
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
      const c = child;
      exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      await waitForPort(port);
    },
    async stop() {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    async close() {
      await r.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await r.start();
  return r;
}
