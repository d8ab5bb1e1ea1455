// Which metrics the programs export (from their real prom-client registries, as /metrics
// serves them) and which metric names a PromQL expression uses — so a rule or a dashboard
// panel that names a metric nobody exports fails a test instead of staying silently empty.
import type { Registry } from 'prom-client';
import { createApiMetrics } from '../../api/metrics.js';
import { createControllerMetrics } from '../../controller/metrics.js';
import { createWorkerMetrics } from '../../worker/metrics.js';

/** Every series name on the three programs' /metrics (histograms with _bucket/_sum/_count). */
export async function exportedMetricNames(): Promise<Set<string>> {
  const registries: Registry[] = [
    createApiMetrics({ processMetrics: true }).registry,
    createWorkerMetrics({ defaultMetrics: true }).registry,
    createControllerMetrics({ defaultMetrics: true }).registry,
  ];
  const names = new Set<string>();
  for (const r of registries) {
    for (const m of await r.getMetricsAsJSON()) {
      const type = String(m.type);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
      else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(m.name + s);
      else names.add(m.name);
    }
  }
  return names;
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * Metric names in a PromQL expression (also with Grafana's $variables). Not a full parser: it
 * removes what cannot hold a metric name (strings, label matchers, ranges, label lists,
 * variables), then keeps identifiers that are neither functions (followed by "(") nor keywords
 * nor the tail of a number or duration.
 */
export function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const at = m.index ?? 0;
    if (/[0-9.]/.test(s[at - 1] ?? '')) continue; // 1e3, 5m
    if (s.slice(at + m[0].length).trimStart().startsWith('(')) continue; // a function
    if (KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

interface Panel {
  targets?: Array<{ expr?: string }>;
  panels?: Panel[];
}

/** Every PromQL expression of a Grafana dashboard: panel targets (rows included) and query variables. */
export function dashboardExpressions(dashboard: { panels?: Panel[]; templating?: { list?: Array<{ type?: string; definition?: string }> } }): string[] {
  const out: string[] = [];
  const walk = (panels: Panel[] = []) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push(t.expr);
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    // label_values(metric, label): the metric is a name, the label is not.
    const m = v.type === 'query' ? /label_values\(\s*([^,)]+)/.exec(v.definition ?? '') : null;
    if (m?.[1]) out.push(m[1]);
  }
  return out;
}
