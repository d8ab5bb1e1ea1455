// Leader election on a coordination.k8s.io/v1 Lease with client-go's semantics:
// - a candidate takes the lease when it is free (no holder: released) or expired; every write
//   carries the resourceVersion it read, so two candidates cannot both win (409);
// - expiry is counted on the candidate's own clock, from when it last SAW the record change
//   (client-go's observedTime, taken after the read returns): the holder's renewTime is another
//   pod's clock and is not trusted;
// - the leader renews every retryPeriod. Its leadership ends renewDeadline after the START of its
//   last successful write attempt, on a timer: it stops leading then even if a call hangs, and
//   every attempt is aborted when that deadline comes (an AbortSignal on the HTTP call);
// - stop() releases the lease (empty holder), so a standby takes over on its next retry.
// Why no two leaders: a write that succeeded landed after its attempt started (S), and a
// candidate sees it no earlier (O ≥ S), so it takes over no earlier than O + leaseDuration >
// S + renewDeadline, when the old leader has already stopped — as long as the two clocks run at
// about the same rate (leaseDuration − renewDeadline is the slack; 5 s by default). A failover
// after a crash takes leaseDuration plus up to one retry period (the candidate's read lag).
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
 * When a lease held by someone else expires, on this candidate's clock: leaseDuration after it
 * last saw the record change (`observedAt`). Not from the holder's renewTime: that is another
 * pod's clock, and a holder whose clock runs behind would make its lease look expired early.
 */
export function leaseExpiresAt(spec: LeaseSpec | undefined, observedAt: number): number {
  return observedAt + (spec?.leaseDurationSeconds ?? 0) * 1000;
}

/** Pure decision: may `identity` write the lease now? */
export function mayAcquire(spec: LeaseSpec | undefined, identity: string, observedAt: number, now: number): boolean {
  const holder = spec?.holderIdentity ?? '';
  if (holder === '' || holder === identity) return true;
  return leaseExpiresAt(spec, observedAt) <= now;
}

/**
 * Until when a leader may act on its lease: renewDeadline after the start of its last
 * successful write attempt (the write may have landed right then; see the top).
 */
export const leadingUntil = (attemptStartedAt: number, t: Pick<LeaderTimings, 'renewDeadlineMs'>): number => attemptStartedAt + t.renewDeadlineMs;

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
  /** While leading: the moment leadership ends unless a renewal succeeds first (our clock). */
  let until = 0;
  let lostTimer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  /** Aborts the lease call under way (deadline passed, or stop()). */
  let inFlight: AbortController | undefined;
  let wakeUp: (() => void) | undefined;
  let running: Promise<void> | undefined;
  // Socket idle limit of each request; the attempt as a whole is bounded by its deadline.
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

  // Remember when we first saw this version of the record: expiry counts from there.
  const observe = (spec: LeaseSpec, at: number) => {
    const json = JSON.stringify(spec);
    if (json !== observedJson) {
      observedJson = json;
      observedAt = at;
    }
  };

  async function tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const call = <T>(req: Parameters<KubeClient['request']>[0]) => o.kube.request<T>({ ...req, timeoutMs: requestTimeoutMs, signal });
    let lease: Lease | undefined;
    try {
      lease = await call<Lease>({ method: 'GET', path: `${path}/${o.name}` });
    } catch (err) {
      if (!isKubeError(err, 404)) throw err;
    }
    // Taken after the read: the record was there at the latest by now (client-go's observedTime).
    const t = now();
    const fresh: LeaseSpec = { holderIdentity: o.identity, leaseDurationSeconds: o.leaseDurationMs / 1000, acquireTime: microTime(t), renewTime: microTime(t), leaseTransitions: 0 };
    if (!lease) {
      try {
        await call({
          method: 'POST',
          path,
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: o.name, namespace: o.namespace }, spec: fresh },
        });
        observe(fresh, now());
        return true;
      } catch (err) {
        if (isKubeError(err, 409)) return false; // someone else created it first
        throw err;
      }
    }
    const spec = lease.spec ?? {};
    observe(spec, t);
    const holder = spec.holderIdentity ?? '';
    if (holder !== lastHolder) {
      lastHolder = holder;
      if (holder !== '' && holder !== o.identity) o.onNewLeader?.(holder);
    }
    expiresAt = holder !== '' && holder !== o.identity ? leaseExpiresAt(spec, observedAt) : 0;
    if (!mayAcquire(spec, o.identity, observedAt, t)) return false;
    const mine = holder === o.identity;
    const next: LeaseSpec = {
      ...fresh,
      acquireTime: mine && spec.acquireTime ? spec.acquireTime : microTime(t),
      leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
    };
    try {
      await call({ method: 'PUT', path: `${path}/${o.name}`, body: { ...lease, spec: next } });
    } catch (err) {
      if (isKubeError(err, 409)) return false; // the record changed since we read it
      throw err;
    }
    observe(next, now());
    return true;
  }

  /** One attempt, aborted at `deadline` (our clock) or by stop(); false on any failure. */
  async function attempt(deadline: number): Promise<boolean> {
    const ac = new AbortController();
    inFlight = ac;
    const timer = setTimeout(() => ac.abort(new Error('lease call passed its deadline')), Math.max(0, deadline - now()));
    try {
      return await tryAcquireOrRenew(ac.signal);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'lease request failed');
      return false;
    } finally {
      clearTimeout(timer);
      if (inFlight === ac) inFlight = undefined;
    }
  }

  // Leadership lasts until `until`; a timer ends it then, whatever the calls under way are doing.
  function extendLeadership(attemptStartedAt: number): void {
    until = leadingUntil(attemptStartedAt, o);
    clearTimeout(lostTimer);
    lostTimer = setTimeout(() => lose('failed to renew the lease within the renew deadline'), Math.max(0, until - now()));
  }

  function lose(why: string): void {
    if (!leader) return;
    leader = false;
    clearTimeout(lostTimer);
    inFlight?.abort(new Error('leadership lost'));
    wakeUp?.();
    log.error({ holder: lastHolder }, `${why}; stopping at once`);
    o.onStoppedLeading('lost');
  }

  async function release(): Promise<void> {
    const signal = AbortSignal.timeout(o.renewDeadlineMs);
    try {
      const lease = await o.kube.request<Lease>({ method: 'GET', path: `${path}/${o.name}`, timeoutMs: requestTimeoutMs, signal });
      if (lease.spec?.holderIdentity !== o.identity) return;
      const t = microTime(now());
      await o.kube.request({
        method: 'PUT',
        path: `${path}/${o.name}`,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: t, acquireTime: t } },
        timeoutMs: requestTimeoutMs,
        signal,
      });
      log.info('lease released');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not release the lease; it expires by itself');
    }
  }

  async function campaign(): Promise<void> {
    // Acquire.
    while (!stopped) {
      const startedAt = now();
      if (await attempt(leadingUntil(startedAt, o))) {
        // Won even if stop() came meanwhile: then the end of campaign() releases it again.
        leader = true;
        extendLeadership(startedAt);
        log.info('became leader');
        o.onStartedLeading();
        break;
      }
      // Retry at the next period, or right at expiry if that comes first.
      const untilExpiry = expiresAt > 0 ? expiresAt - now() + 10 : Number.POSITIVE_INFINITY;
      await sleep(Math.max(10, Math.min(jittered(), untilExpiry)));
    }
    // Renew every retryPeriod; each attempt may run until the leadership would end anyway.
    while (leader && !stopped) {
      await sleep(o.retryPeriodMs);
      if (!leader || stopped) break;
      const startedAt = now();
      const renewed = await attempt(until);
      if (!leader || stopped) break;
      if (renewed) extendLeadership(startedAt);
      else if (lastHolder !== o.identity && lastHolder !== '') lose('another candidate holds the lease');
      // Otherwise retry after retryPeriod; the timer ends leadership when the deadline passes.
    }
    if (stopped && leader) {
      leader = false;
      clearTimeout(lostTimer);
      await release();
      o.onStoppedLeading('released');
    }
  }

  return {
    run() {
      running ??= campaign();
      return running;
    },
    // Checked against the clock too: a timer can only fire late, the answer here never is.
    isLeader: () => leader && now() < until,
    async stop() {
      stopped = true;
      inFlight?.abort(new Error('stopping'));
      wakeUp?.();
      await running;
    },
  };
}
