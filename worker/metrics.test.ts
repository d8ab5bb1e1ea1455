import { createControllerMetrics } from '../controller/metrics.js';
import { createWorkerMetrics, setCircuitState } from './metrics.js';

test('the breaker is a state-set: exactly one state is 1 per vendor', async () => {
  const m = createWorkerMetrics({ defaultMetrics: false });
  setCircuitState(m.circuitState, 'acme', 'closed');
  setCircuitState(m.circuitState, 'acme', 'open');
  setCircuitState(m.circuitState, 'globex', 'half-open');
  const values = (await m.circuitState.get()).values.map((v) => `${v.labels.vendor}/${v.labels.state}=${v.value}`).sort();
  expect(values).toEqual(['acme/closed=0', 'acme/half-open=0', 'acme/open=1', 'globex/closed=0', 'globex/half-open=1', 'globex/open=0']);
});

test.each([
  ['worker', () => createWorkerMetrics({ defaultMetrics: true }).registry],
  ['controller', () => createControllerMetrics({ defaultMetrics: true }).registry],
])('the %s keeps the standard process_* and nodejs_* names (stock dashboards work)', async (_name, registry) => {
  const names = (await registry().getMetricsAsJSON()).map((m) => m.name);
  for (const n of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
    expect(names).toContain(n);
  }
  expect(names.filter((n) => /^vendorfetch_\w+_(process|nodejs)_/.test(n))).toEqual([]);
});
