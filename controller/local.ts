// Local mode: the controller's loop without Kubernetes. VendorPool YAML files stand in for the
// API server and worker child processes for the Deployment. Every tick (level-triggered, so
// edits to the files, a crashed child or a Redis FLUSHALL all heal by themselves):
//   read the files → validate → publish each pool's vendors to the registry → measure stream
//   lag → desiredReplicas (same rule and stabilisation as on Kubernetes) → start/stop children.
// Crashed children are restarted with exponential backoff.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Redis } from 'ioredis';
import type { Logger } from '../core/logger.js';
import type { VendorRegistry } from '../core/registry.js';
import { poolLag, type PoolLag } from './lag.js';
import { loadPoolFiles, type LoadedPool } from './pool-files.js';
import { desiredReplicas, type Recommendation } from './scaling.js';
import { crossPoolConflicts } from './validate.js';

export type SpawnWorker = (pool: LoadedPool, slot: number) => ChildProcess;

export interface LocalSupervisorOptions {
  poolsDir: string;
  redis: Redis;
  registry: VendorRegistry;
  spawnWorker: SpawnWorker;
  logger: Logger;
  /** How often files are re-read, the registry re-published and lag measured. Default 2000 ms. */
  tickMs?: number;
  /** First restart delay after a crash; doubles per crash in a row up to maxRestartDelayMs. Default 1000 ms. */
  restartDelayMs?: number;
  /** Default 30 000 ms. */
  maxRestartDelayMs?: number;
  /** A child that ran this long before crashing restarts with the first delay again. Default 30 000 ms. */
  healthyRunMs?: number;
  /** How long shutdown waits for children after SIGTERM before SIGKILL. Default 20 000 ms. */
  stopTimeoutMs?: number;
  now?: () => number;
}

interface Slot {
  child: ChildProcess | undefined;
  startedAt: number;
  crashesInARow: number;
  restartTimer: NodeJS.Timeout | undefined;
  retired: boolean;
}

interface PoolState {
  pool: LoadedPool;
  slots: Slot[];
  history: Recommendation[];
  lag: PoolLag | undefined;
  conflicts: string[];
  summary: string;
}

export interface PoolStatus {
  key: string;
  desired: number;
  pids: number[];
  lag: number | undefined;
  conflicts: string[];
}

export interface LocalSupervisor {
  /** First tick, then one every tickMs. Resolves after the first tick. */
  start(): Promise<void>;
  /** One full pass now (tests; also what the timer runs). */
  tick(): Promise<void>;
  status(): PoolStatus[];
  /** Stop ticking, SIGTERM every child, wait (then SIGKILL past the deadline). Idempotent. */
  stop(): Promise<void>;
}

export function createLocalSupervisor(opts: LocalSupervisorOptions): LocalSupervisor {
  const tickMs = opts.tickMs ?? 2000;
  const restartDelayMs = opts.restartDelayMs ?? 1000;
  const maxRestartDelayMs = opts.maxRestartDelayMs ?? 30_000;
  const healthyRunMs = opts.healthyRunMs ?? 30_000;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 20_000;
  const now = opts.now ?? Date.now;
  const log = opts.logger;
  const pools = new Map<string, PoolState>();
  let timer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  let running: Promise<void> | undefined;
  let lastFileErrors = '';

  function startChild(state: PoolState, slot: Slot, index: number): void {
    if (stopping || slot.retired) return;
    const child = opts.spawnWorker(state.pool, index);
    slot.child = child;
    slot.startedAt = now();
    child.once('error', (err) => log.error({ pool: state.pool.key, err: err.message }, 'worker failed to start'));
    child.once('exit', (code, signal) => {
      if (slot.child === child) slot.child = undefined;
      if (stopping || slot.retired) return;
      slot.crashesInARow = now() - slot.startedAt >= healthyRunMs ? 1 : slot.crashesInARow + 1;
      const delay = Math.min(maxRestartDelayMs, restartDelayMs * 2 ** (slot.crashesInARow - 1));
      log.warn({ pool: state.pool.key, pid: child.pid, code, signal, restartInMs: delay }, 'worker exited unexpectedly; restarting');
      slot.restartTimer = setTimeout(() => {
        slot.restartTimer = undefined;
        startChild(state, slot, index);
      }, delay);
    });
  }

  function retire(slot: Slot): void {
    slot.retired = true;
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    if (slot.child && slot.child.exitCode === null && slot.child.signalCode === null) slot.child.kill('SIGTERM');
  }

  function scaleTo(state: PoolState, replicas: number): void {
    while (state.slots.length < replicas) {
      const slot: Slot = { child: undefined, startedAt: 0, crashesInARow: 0, restartTimer: undefined, retired: false };
      state.slots.push(slot);
      startChild(state, slot, state.slots.length - 1);
    }
    // Newest first, like a ReplicaSet scaling down.
    while (state.slots.length > replicas) retire(state.slots.pop()!);
  }

  function report(state: PoolState): void {
    const pids = state.slots.map((s) => s.child?.pid).filter((p): p is number => p !== undefined);
    const summary = `${state.slots.length}|${pids.join(',')}|${state.conflicts.join(',')}`;
    if (summary === state.summary) return;
    state.summary = summary;
    log.info(
      {
        pool: state.pool.key,
        vendors: state.pool.spec.vendors.map((v) => `${v.name} (${v.mode} ${v.url})`),
        workers: state.slots.length,
        pids,
        lag: state.lag?.total,
        ...(state.conflicts.length > 0 ? { conflicts: state.conflicts } : {}),
      },
      `pool ${state.pool.key}: ${state.slots.length} worker(s)`,
    );
  }

  async function reconcile(): Promise<void> {
    let loaded;
    try {
      loaded = await loadPoolFiles(opts.poolsDir);
    } catch (err) {
      log.error({ dir: opts.poolsDir, err: (err as Error).message }, 'cannot read the VendorPool folder; keeping what runs');
      return;
    }
    const fileErrors = JSON.stringify(loaded.errors);
    if (fileErrors !== lastFileErrors) {
      lastFileErrors = fileErrors;
      for (const e of loaded.errors) log.error(e, 'invalid VendorPool file skipped');
    }

    // Pools whose file disappeared: stop their workers and withdraw their vendors.
    for (const [key, state] of pools) {
      if (loaded.pools.some((p) => p.key === key)) continue;
      scaleTo(state, 0);
      pools.delete(key);
      log.info({ pool: key }, 'pool removed; its workers stop');
      await opts.registry.removePool(key).catch((err: Error) => log.warn({ pool: key, err: err.message }, 'registry cleanup failed'));
    }

    // Earlier files win contested vendor names (same rule as creation time on Kubernetes).
    const claims = loaded.pools.map((p, i) => ({ key: p.key, createdAt: String(i).padStart(6, '0'), vendors: p.spec.vendors.map((v) => v.name) }));
    for (const [i, pool] of loaded.pools.entries()) {
      let state = pools.get(pool.key);
      if (!state) {
        state = { pool, slots: [], history: [], lag: undefined, conflicts: [], summary: '' };
        pools.set(pool.key, state);
      }
      state.pool = pool;
      const taken = crossPoolConflicts(claims[i]!, claims);
      const mine = pool.spec.vendors.filter((v) => !taken.has(v.name));
      try {
        const refused = await opts.registry.publish(pool.key, mine);
        state.conflicts = [...taken.keys(), ...refused];
        state.lag = await poolLag(opts.redis, mine.filter((v) => !refused.includes(v.name)).map((v) => v.name));
      } catch (err) {
        // Redis down: keep the workers we have (they wait for Redis themselves), try next tick.
        log.warn({ pool: pool.key, err: (err as Error).message }, 'registry/lag unavailable; keeping current workers');
        if (state.slots.length === 0) scaleTo(state, pool.spec.workers.minReplicas);
        report(state);
        continue;
      }
      const decision = desiredReplicas(state.lag.total, pool.spec.workers, state.history, now());
      state.history = decision.history;
      scaleTo(state, decision.replicas);
      report(state);
    }
  }

  async function tick(): Promise<void> {
    if (stopping) return;
    // Never two passes at once: the timer waits for a slow pass.
    running ??= reconcile().finally(() => (running = undefined));
    await running;
  }

  function schedule(): void {
    if (stopping) return;
    timer = setTimeout(() => void tick().finally(schedule), tickMs);
  }

  return {
    async start() {
      log.info({ dir: opts.poolsDir, tickMs }, 'local controller: reading VendorPools');
      await tick();
      schedule();
    },
    tick,
    status() {
      return [...pools.values()].map((s) => ({
        key: s.pool.key,
        desired: s.slots.length,
        pids: s.slots.map((x) => x.child?.pid).filter((p): p is number => p !== undefined),
        lag: s.lag?.total,
        conflicts: s.conflicts,
      }));
    },
    stop() {
      stopping ??= (async () => {
        if (timer) clearTimeout(timer);
        await running?.catch(() => {});
        const children: ChildProcess[] = [];
        for (const state of pools.values()) {
          for (const slot of state.slots) {
            if (slot.child && slot.child.exitCode === null && slot.child.signalCode === null) children.push(slot.child);
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
  if (child.exitCode !== null || child.signalCode !== null) return;
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
