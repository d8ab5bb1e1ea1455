// Local mode: the controller's loop without Kubernetes. VendorPool YAML files stand in for the
// API server and worker child processes (worker-processes.ts) for the Deployment. Every tick
// (level-triggered, so edits to the files, a crashed child or a Redis FLUSHALL all heal by
// themselves): read the files → for each pool the same plan as on Kubernetes (plan.ts: claims,
// registry, lag, replicas) → start/stop children.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../core/logger.js';
import type { VendorRegistry } from '../core/registry.js';
import { planPool, type PoolPlan } from './plan.js';
import { loadPoolFiles, type LoadedPool } from './pool-files.js';
import type { Recommendation } from './scaling.js';
import { createWorkerProcesses, type WorkerProcessesOptions } from './worker-processes.js';

export interface LocalSupervisorOptions extends WorkerProcessesOptions {
  poolsDir: string;
  redis: Redis;
  registry: VendorRegistry;
  /** How often files are re-read, the registry re-published and lag measured. Default 2000 ms. */
  tickMs?: number;
}

interface PoolState {
  pool: LoadedPool;
  history: Recommendation[];
  /** The last tick's plan; undefined when that tick could not reach Redis. */
  plan: PoolPlan | undefined;
  summary: string;
}

export interface LocalPoolStatus {
  key: string;
  desired: number;
  pids: number[];
  /** Undefined while Redis cannot be reached: an old number would look current. */
  lag: number | undefined;
  /** Vendor names another pool owns; undefined while Redis cannot be reached. */
  conflicts: string[] | undefined;
}

export interface LocalSupervisor {
  /** First tick, then one every tickMs. Resolves after the first tick. */
  start(): Promise<void>;
  /** One full pass now (tests; also what the timer runs). */
  tick(): Promise<void>;
  status(): LocalPoolStatus[];
  /** Stop ticking, SIGTERM every child, wait (then SIGKILL past the deadline). Idempotent. */
  stop(): Promise<void>;
}

export function createLocalSupervisor(opts: LocalSupervisorOptions): LocalSupervisor {
  const tickMs = opts.tickMs ?? 2000;
  const now = opts.now ?? Date.now;
  const children = createWorkerProcesses(opts);
  const pools = new Map<string, PoolState>();
  let timer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  let running: Promise<void> | undefined;
  let lastFileErrors = '';

  const conflictsOf = (state: PoolState) => state.plan?.conflicts.map((c) => c.vendor);

  function report(state: PoolState, log: Logger): void {
    const key = state.pool.key;
    const pids = children.pids(key);
    const conflicts = conflictsOf(state) ?? [];
    const summary = `${children.replicas(key)}|${pids.join(',')}|${conflicts.join(',')}`;
    if (summary === state.summary) return;
    state.summary = summary;
    log.info(
      {
        pool: key,
        vendors: state.pool.spec.vendors.map((v) => `${v.name} (${v.mode} ${v.url})`),
        workers: children.replicas(key),
        pids,
        lag: state.plan?.lag.total,
        ...(conflicts.length > 0 ? { conflicts } : {}),
      },
      `pool ${key}: ${children.replicas(key)} worker(s)`,
    );
  }

  async function reconcile(log: Logger): Promise<void> {
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
      children.scale(state.pool, 0);
      pools.delete(key);
      log.info({ pool: key }, 'pool removed; its workers stop');
      await opts.registry.removePool(key).catch((err: Error) => log.warn({ pool: key, err: err.message }, 'registry cleanup failed'));
    }

    // Earlier files win contested vendor names (file order stands in for creation time).
    const claims = loaded.pools.map((p, i) => ({ key: p.key, createdAt: String(i).padStart(6, '0'), vendors: p.spec.vendors.map((v) => v.name) }));
    for (const [i, pool] of loaded.pools.entries()) {
      let state = pools.get(pool.key);
      if (!state) {
        state = { pool, history: [], plan: undefined, summary: '' };
        pools.set(pool.key, state);
      }
      state.pool = pool;
      try {
        state.plan = await planPool(opts, { claim: claims[i]!, claims, vendors: pool.spec.vendors, workers: pool.spec.workers, history: state.history, now: now() });
      } catch (err) {
        // Redis down: keep the workers we have (they wait for Redis themselves; a new pool gets
        // minReplicas), try next tick.
        log.warn({ pool: pool.key, err: (err as Error).message }, 'registry/lag unavailable; keeping current workers');
        state.plan = undefined;
        children.scale(pool, children.replicas(pool.key) || pool.spec.workers.minReplicas);
        report(state, log);
        continue;
      }
      state.history = state.plan.scale.history;
      children.scale(pool, state.plan.scale.replicas);
      report(state, log);
    }
  }

  async function tick(): Promise<void> {
    if (stopping) return;
    // Never two passes at once: the timer waits for a slow pass. Each pass logs with its own id.
    running ??= reconcile(opts.logger.child({ reconcileID: randomUUID() })).finally(() => (running = undefined));
    await running;
  }

  function schedule(): void {
    if (stopping) return;
    timer = setTimeout(() => void tick().finally(schedule), tickMs);
  }

  return {
    async start() {
      opts.logger.info({ dir: opts.poolsDir, tickMs }, 'local controller: reading VendorPools');
      await tick();
      schedule();
    },
    tick,
    status() {
      return [...pools.values()].map((s) => ({
        key: s.pool.key,
        desired: children.replicas(s.pool.key),
        pids: children.pids(s.pool.key),
        lag: s.plan?.lag.total,
        conflicts: conflictsOf(s),
      }));
    },
    stop() {
      stopping ??= (async () => {
        if (timer) clearTimeout(timer);
        await running?.catch(() => {});
        await children.stop();
      })();
      return stopping;
    },
  };
}
