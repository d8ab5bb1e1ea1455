// Worker child processes for local mode: what a Deployment's ReplicaSet does on Kubernetes. It
// keeps the number of children each pool is given, restarts a crashed child with exponential
// backoff (back to the first delay after a healthy run), scales down newest first, and on stop
// SIGTERMs every child and SIGKILLs those still running past the deadline.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Logger } from '../core/logger.js';
import type { LoadedPool } from './pool-files.js';

export type SpawnWorker = (pool: LoadedPool, slot: number) => ChildProcess;

export interface WorkerProcessesOptions {
  spawnWorker: SpawnWorker;
  logger: Logger;
  /** First restart delay after a crash; doubles per crash in a row up to maxRestartDelayMs. Default 1000 ms. */
  restartDelayMs?: number;
  /** Default 30 000 ms. */
  maxRestartDelayMs?: number;
  /** A child that ran this long before crashing restarts with the first delay again. Default 30 000 ms. */
  healthyRunMs?: number;
  /** How long stop() waits for children after SIGTERM before SIGKILL. Default 20 000 ms. */
  stopTimeoutMs?: number;
  now?: () => number;
}

export interface WorkerProcesses {
  /** Run `replicas` children for the pool; new and restarted children get this pool's settings. */
  scale(pool: LoadedPool, replicas: number): void;
  /** Children a pool is given, including crashed ones waiting for their restart. */
  replicas(key: string): number;
  pids(key: string): number[];
  /** SIGTERM every child and wait (SIGKILL past the deadline). Idempotent. */
  stop(): Promise<void>;
}

interface Slot {
  child: ChildProcess | undefined;
  startedAt: number;
  crashesInARow: number;
  restartTimer: NodeJS.Timeout | undefined;
  retired: boolean;
}

interface PoolChildren {
  pool: LoadedPool;
  slots: Slot[];
}

const running = (c: ChildProcess | undefined): c is ChildProcess => c !== undefined && c.exitCode === null && c.signalCode === null;

export function createWorkerProcesses(opts: WorkerProcessesOptions): WorkerProcesses {
  const restartDelayMs = opts.restartDelayMs ?? 1000;
  const maxRestartDelayMs = opts.maxRestartDelayMs ?? 30_000;
  const healthyRunMs = opts.healthyRunMs ?? 30_000;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 20_000;
  const now = opts.now ?? Date.now;
  const log = opts.logger;
  const pools = new Map<string, PoolChildren>();
  let stopping: Promise<void> | undefined;

  function startChild(entry: PoolChildren, slot: Slot, index: number): void {
    if (stopping || slot.retired) return;
    const child = opts.spawnWorker(entry.pool, index);
    slot.child = child;
    slot.startedAt = now();
    child.once('error', (err) => log.error({ pool: entry.pool.key, err: err.message }, 'worker failed to start'));
    child.once('exit', (code, signal) => {
      if (slot.child === child) slot.child = undefined;
      if (stopping || slot.retired) return;
      slot.crashesInARow = now() - slot.startedAt >= healthyRunMs ? 1 : slot.crashesInARow + 1;
      const delay = Math.min(maxRestartDelayMs, restartDelayMs * 2 ** (slot.crashesInARow - 1));
      log.warn({ pool: entry.pool.key, pid: child.pid, code, signal, restartInMs: delay }, 'worker exited unexpectedly; restarting');
      slot.restartTimer = setTimeout(() => {
        slot.restartTimer = undefined;
        startChild(entry, slot, index);
      }, delay);
    });
  }

  function retire(slot: Slot): void {
    slot.retired = true;
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    if (running(slot.child)) slot.child.kill('SIGTERM');
  }

  return {
    scale(pool, replicas) {
      let entry = pools.get(pool.key);
      if (!entry) {
        entry = { pool, slots: [] };
        pools.set(pool.key, entry);
      }
      entry.pool = pool;
      while (entry.slots.length < replicas) {
        const slot: Slot = { child: undefined, startedAt: 0, crashesInARow: 0, restartTimer: undefined, retired: false };
        entry.slots.push(slot);
        startChild(entry, slot, entry.slots.length - 1);
      }
      // Newest first, like a ReplicaSet scaling down.
      while (entry.slots.length > replicas) retire(entry.slots.pop()!);
      if (replicas === 0) pools.delete(pool.key);
    },
    replicas: (key) => pools.get(key)?.slots.length ?? 0,
    pids: (key) => (pools.get(key)?.slots ?? []).map((s) => s.child?.pid).filter((p): p is number => p !== undefined),
    stop() {
      stopping ??= (async () => {
        const children: ChildProcess[] = [];
        for (const entry of pools.values()) {
          for (const slot of entry.slots) {
            if (running(slot.child)) children.push(slot.child);
            retire(slot);
          }
        }
        log.info({ workers: children.length }, 'stopping workers');
        await Promise.all(children.map((c) => waitForExit(c, stopTimeoutMs)));
      })();
      return stopping;
    },
  };
}

async function waitForExit(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (!running(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let t: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (t = setTimeout(() => resolve('late'), timeoutMs)));
  if ((await Promise.race([exited, late])) === 'late') {
    child.kill('SIGKILL');
    await exited;
  }
  clearTimeout(t);
}

export interface WorkerCommand {
  /** The Node binary (process.execPath). */
  node: string;
  /** The worker entry, e.g. dist/worker/main.js. */
  entry: string;
  /** Environment every worker gets (REDIS_URL, MONGODB_URL, VF_WEBHOOK_BASE_URL, secrets…). */
  env: NodeJS.ProcessEnv;
  /** First metrics port; each child gets its own. Unset → 0 (an ephemeral port each). */
  metricsBasePort?: number;
  /** Default 'inherit'. */
  stdio?: StdioOptions;
}

/** Spawns `node <entry>` with the pool's env (VF_POOL, VF_CONCURRENCY, WORKER_METRICS_PORT). */
export function workerSpawner(cmd: WorkerCommand): SpawnWorker {
  const portOf = new Map<string, number>();
  let nextPort = cmd.metricsBasePort ?? 0;
  return (pool, slot) => {
    // A slot keeps its port across restarts, so a scraper config stays valid.
    let port = 0;
    if (cmd.metricsBasePort !== undefined) {
      const k = `${pool.key}#${slot}`;
      port = portOf.get(k) ?? nextPort++;
      portOf.set(k, port);
    }
    return spawn(cmd.node, [cmd.entry], {
      env: {
        ...cmd.env,
        VF_POOL: pool.key,
        VF_CONCURRENCY: String(pool.spec.workers.concurrency),
        WORKER_METRICS_PORT: String(port),
      },
      stdio: cmd.stdio ?? 'inherit',
    });
  };
}
