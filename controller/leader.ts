// Leader election on a coordination.k8s.io/v1 Lease with client-go's semantics:
// - a candidate takes the lease when it is free (no holder: released) or expired; every write
//   carries the resourceVersion it read, so two candidates cannot both win (409);
// - the leader renews every retryPeriod; if no renewal succeeds within renewDeadline it stops
//   leading at once (onStoppedLeading) — it must not act on a lease it may no longer hold;
// - stop() releases the lease (empty holder), so a standby takes over on its next retry.
// One refinement over client-go: client-go counts expiry from when the candidate last SAW the
// record change (its own clock), which lets a failover take up to leaseDuration + 2 retry
// periods. Here expiry counts from the earlier of that moment and the holder's renewTime, and
// the candidate retries right at expiry, so a dead leader is replaced within leaseDuration.
// Safe while clock skew between replicas stays below leaseDuration − renewDeadline (5 s by
// default): a partitioned leader gives up renewDeadline after its last renewal, before any
// candidate can consider the lease expired.
import type { Logger } from '../core/logger.js';
import { isKubeError, type KubeClient } from './kube.js';

export interface LeaderTimings {
  /** How long a lease lasts without renewal. client-go default 15 s. */
  leaseDurationMs: number;
  /** How long a leader keeps retrying a failed renewal before it gives up. Default 10 s. */
  renewDeadlineMs: number;
  /** Pause between attempts (acquire and renew). Default 2 s. */
  retryPeriodMs: number;
}

export const DEFAULT_TIMINGS: LeaderTimings = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
/** Waits are retryPeriod × [1, JITTER): the renew deadline must cover one jittered wait. */
export const JITTER = 1.2;

/** client-go's checks: lease > renew deadline > 1.2 × retry period > 0. Returns the problems. */
export function validateTimings(t: LeaderTimings): string[] {
  const problems: string[] = [];
  if (!(t.retryPeriodMs > 0)) problems.push('retryPeriod must be > 0');
  if (!(t.leaseDurationMs > t.renewDeadlineMs)) problems.push('leaseDuration must be greater than renewDeadline');
  if (!(t.renewDeadlineMs > JITTER * t.retryPeriodMs)) problems.push(`renewDeadline must be greater than ${JITTER} × retryPeriod`);
  if (t.leaseDurationMs % 1000 !== 0) problems.push('leaseDuration must be whole seconds (Lease.spec.leaseDurationSeconds)');
  return problems;
}

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** Lease times are MicroTime: RFC 3339 with microseconds. */
export const microTime = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/**
 * When a lease held by someone else expires, in this candidate's clock: `observedAt` is when it
 * last saw the record change; the holder's renewTime counts when it is earlier (never later:
 * a holder whose clock runs ahead must not extend its lease).
 */
export function leaseExpiresAt(spec: LeaseSpec | undefined, observedAt: number, now: number): number {
  const renewed = spec?.renewTime ? Date.parse(spec.renewTime) : Number.NaN;
  const base = Number.isFinite(renewed) && renewed <= now ? Math.min(observedAt, renewed) : observedAt;
  return base + (spec?.leaseDurationSeconds ?? 0) * 1000;
}

/** Pure decision: may `identity` write the lease now? */
export function mayAcquire(spec: LeaseSpec | undefined, identity: string, observedAt: number, now: number): boolean {
  const holder = spec?.holderIdentity ?? '';
  if (holder === '' || holder === identity) return true;
  return leaseExpiresAt(spec, observedAt, now) <= now;
}

export interface LeaderElectorOptions extends LeaderTimings {
  kube: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  logger: Logger;
  /** Called once when this process becomes leader. */
  onStartedLeading: () => void;
  /** Called once when leadership ends for any reason (lost renewal, stop()). */
  onStoppedLeading: (reason: 'lost' | 'released') => void;
  /** Called when a different holder is seen (observability). */
  onNewLeader?: (identity: string) => void;
  now?: () => number;
}

export interface LeaderElector {
  /** Campaign, lead, renew — resolves when leadership ends or stop() is called. */
  run(): Promise<void>;
  isLeader(): boolean;
  /** Stop campaigning; a leader releases the lease. Idempotent. */
  stop(): Promise<void>;
}

export function createLeaderElector(o: LeaderElectorOptions): LeaderElector {
  const problems = validateTimings(o);
  if (problems.length > 0) throw new Error(`invalid leader election timings: ${problems.join('; ')}`);
  const now = o.now ?? Date.now;
  const path = `/apis/coordination.k8s.io/v1/namespaces/${o.namespace}/leases`;
  const log = o.logger.child({ lease: `${o.namespace}/${o.name}`, identity: o.identity });
  let observedJson = '';
  let observedAt = 0;
  /** When the lease held by another expires (ms, our clock); 0 when unknown or free. */
  let expiresAt = 0;
  let lastHolder = '';
  let leader = false;
  let stopped = false;
  let wakeUp: (() => void) | undefined;
  let running: Promise<void> | undefined;
  // Writes must finish well inside the renew deadline.
  const requestTimeoutMs = Math.max(500, Math.min(o.renewDeadlineMs / 2, 5000));

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });
  const jittered = () => o.retryPeriodMs * (1 + Math.random() * (JITTER - 1));

  async function tryAcquireOrRenew(): Promise<boolean> {
    const t = now();
    let lease: Lease | undefined;
    try {
      lease = await o.kube.request<Lease>({ method: 'GET', path: `${path}/${o.name}`, timeoutMs: requestTimeoutMs });
    } catch (err) {
      if (!isKubeError(err, 404)) throw err;
    }
    const fresh: LeaseSpec = { holderIdentity: o.identity, leaseDurationSeconds: o.leaseDurationMs / 1000, acquireTime: microTime(t), renewTime: microTime(t), leaseTransitions: 0 };
    if (!lease) {
      try {
        await o.kube.request({
          method: 'POST',
          path,
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: o.name, namespace: o.namespace }, spec: fresh },
          timeoutMs: requestTimeoutMs,
        });
        observedJson = JSON.stringify(fresh);
        observedAt = t;
        return true;
      } catch (err) {
        if (isKubeError(err, 409)) return false; // someone else created it first
        throw err;
      }
    }
    const spec = lease.spec ?? {};
    const json = JSON.stringify(spec);
    if (json !== observedJson) {
      observedJson = json;
      observedAt = t;
    }
    const holder = spec.holderIdentity ?? '';
    if (holder !== lastHolder) {
      lastHolder = holder;
      if (holder !== '' && holder !== o.identity) o.onNewLeader?.(holder);
    }
    expiresAt = holder !== '' && holder !== o.identity ? leaseExpiresAt(spec, observedAt, t) : 0;
    if (!mayAcquire(spec, o.identity, observedAt, t)) return false;
    const mine = holder === o.identity;
    const next: LeaseSpec = {
      ...fresh,
      acquireTime: mine && spec.acquireTime ? spec.acquireTime : microTime(t),
      leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
    };
    try {
      await o.kube.request({
        method: 'PUT',
        path: `${path}/${o.name}`,
        body: { ...lease, spec: next },
        timeoutMs: requestTimeoutMs,
      });
    } catch (err) {
      if (isKubeError(err, 409)) return false; // the record changed since we read it
      throw err;
    }
    observedJson = JSON.stringify(next);
    observedAt = t;
    return true;
  }

  async function attempt(): Promise<boolean> {
    try {
      return await tryAcquireOrRenew();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'lease request failed');
      return false;
    }
  }

  async function release(): Promise<void> {
    try {
      const lease = await o.kube.request<Lease>({ method: 'GET', path: `${path}/${o.name}`, timeoutMs: requestTimeoutMs });
      if (lease.spec?.holderIdentity !== o.identity) return;
      const t = microTime(now());
      await o.kube.request({
        method: 'PUT',
        path: `${path}/${o.name}`,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: t, acquireTime: t } },
        timeoutMs: requestTimeoutMs,
      });
      log.info('lease released');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not release the lease; it expires by itself');
    }
  }

  async function campaign(): Promise<void> {
    // Acquire.
    while (!stopped) {
      if (await attempt()) break;
      // Retry at the next period, or right at expiry if that comes first.
      const untilExpiry = expiresAt > 0 ? expiresAt - now() + 10 : Number.POSITIVE_INFINITY;
      await sleep(Math.max(10, Math.min(jittered(), untilExpiry)));
    }
    if (stopped) return;
    leader = true;
    log.info('became leader');
    o.onStartedLeading();
    // Renew: each round must succeed within renewDeadline, retrying every retryPeriod.
    let lastRenew = now();
    while (!stopped) {
      await sleep(o.retryPeriodMs);
      if (stopped) break;
      if (await attempt()) {
        lastRenew = now();
        continue;
      }
      if (lastHolder !== o.identity && lastHolder !== '') {
        log.error({ holder: lastHolder }, 'another candidate holds the lease; stopping at once');
        break;
      }
      if (now() - lastRenew >= o.renewDeadlineMs) {
        log.error({ sinceLastRenewMs: now() - lastRenew }, 'failed to renew the lease within the renew deadline; stopping at once');
        break;
      }
    }
    leader = false;
    if (stopped) {
      await release();
      o.onStoppedLeading('released');
    } else {
      o.onStoppedLeading('lost');
    }
  }

  return {
    run() {
      running ??= campaign();
      return running;
    },
    isLeader: () => leader,
    async stop() {
      stopped = true;
      wakeUp?.();
      await running;
    },
  };
}
