// Controller metrics (prom-client), one registry per controller instance (no globals).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ControllerMetrics {
  registry: Registry;
  reconciles: Counter<'result'>;
  reconcileErrors: Counter;
  reconcileDuration: Histogram;
  leader: Gauge;
  informerRestarts: Counter<'informer'>;
  poolLag: Gauge<'pool'>;
  poolReplicas: Gauge<'pool'>;
}

export function createControllerMetrics(opts: { defaultMetrics?: boolean } = {}): ControllerMetrics {
  const registry = new Registry();
  // Standard unprefixed names (process_*, nodejs_*), so stock Node.js dashboards work.
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    reconciles: new Counter({ name: 'vendorfetch_controller_reconcile_total', help: 'Reconcile passes by result (ok, error, gone)', labelNames: ['result'], registers }),
    reconcileErrors: new Counter({ name: 'vendorfetch_controller_reconcile_errors_total', help: 'Reconcile passes that failed and were requeued', registers }),
    reconcileDuration: new Histogram({
      name: 'vendorfetch_controller_reconcile_duration_seconds',
      help: 'Duration of one reconcile pass',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    leader: new Gauge({ name: 'vendorfetch_controller_leader', help: '1 while this process holds the leader lease', registers }),
    informerRestarts: new Counter({ name: 'vendorfetch_controller_informer_restarts_total', help: 'Informers restarted after an error', labelNames: ['informer'], registers }),
    poolLag: new Gauge({ name: 'vendorfetch_controller_pool_lag', help: "Sum of a pool's vendor stream lag at the last reconcile", labelNames: ['pool'], registers }),
    poolReplicas: new Gauge({ name: 'vendorfetch_controller_pool_replicas', help: 'Worker replicas the controller set for a pool', labelNames: ['pool'], registers }),
  };
}
