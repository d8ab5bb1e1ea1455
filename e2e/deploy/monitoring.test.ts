// The chart's optional PrometheusRule and Grafana dashboard: off by default; the rules pass
// `promtool check rules` and every alert has a passing `promtool test rules` case
// (alerts/rules-test.yaml); the dashboard is a sidecar ConfigMap with the panels people look
// for; and every metric a rule or a panel names is exported by the programs.
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { dashboardExpressions, exportedMetricNames, metricNames } from './metric-names.js';
import { CHART_DIR, deployEnv, helmRunner, KUBE_VERSION, parseObjects, run, type DeployEnv, type KObject } from './support.js';

const env = await deployEnv();
if ('skip' in env) console.warn(`e2e/deploy/monitoring.test.ts: skipped — ${env.skip}`);
const withHelm = 'skip' in env ? describe.skip : describe;
const RULES_TEST = path.join(import.meta.dirname, 'alerts', 'rules-test.yaml');

interface Rule {
  alert: string;
  expr: string;
}
type RuleGroups = Array<{ name: string; rules: Rule[] }>;

withHelm('chart monitoring: PrometheusRule and Grafana dashboard', () => {
  const promtool = path.join(process.env.VF_TESTENV_BIN ?? '', 'promtool');
  let dir = '';
  let objects: KObject[] = [];
  let defaults: KObject[] = [];
  let groups: RuleGroups = [];
  let dashboard: { panels?: Array<{ title?: string; panels?: unknown[] }>; [k: string]: unknown } = {};
  let configMap: KObject & { data?: Record<string, string> };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vf-monitoring-'));
    const { helm, cleanup } = await helmRunner((env as DeployEnv).helm);
    try {
      const template = async (extra: string[]) => {
        const r = await helm(['template', 'vendorfetch', CHART_DIR, '--namespace', 'vendorfetch', '--kube-version', KUBE_VERSION, ...extra]);
        if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
        return parseObjects(r.stdout);
      };
      defaults = await template([]);
      objects = await template(['--set', 'prometheusRule.enabled=true', '--set', 'grafanaDashboard.enabled=true']);
    } finally {
      await cleanup();
    }
    const rule = objects.find((o) => o.kind === 'PrometheusRule') as KObject & { spec: { groups: RuleGroups } };
    groups = rule.spec.groups;
    // promtool reads plain rule files: the PrometheusRule's spec is one.
    await writeFile(path.join(dir, 'rules.yaml'), stringify({ groups }));
    await copyFile(RULES_TEST, path.join(dir, 'rules-test.yaml'));
    configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === 'vendorfetch-dashboard') as typeof configMap;
    dashboard = JSON.parse(configMap?.data?.['vendorfetch.json'] ?? '{}') as typeof dashboard;
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is off by default', () => {
    expect(defaults.filter((o) => o.kind === 'PrometheusRule' || (o.kind === 'ConfigMap' && o.metadata?.name?.endsWith('-dashboard')))).toEqual([]);
  });

  it('promtool check rules accepts the rules', async () => {
    const r = await run(promtool, ['check', 'rules', path.join(dir, 'rules.yaml')]);
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: expect.stringContaining(`SUCCESS: ${groups[0]!.rules.length} rules found`) });
  });

  it('has the alerts asked for, each with promtool unit tests where it fires and where it stays quiet', async () => {
    const alerts = groups.flatMap((g) => g.rules.map((r) => r.alert)).sort();
    expect(alerts).toEqual([
      'VendorfetchCircuitOpen',
      'VendorfetchDeadLetterGrowth',
      'VendorfetchLagGrowing',
      'VendorfetchNoLeader',
      'VendorfetchQuotaSaturated',
      'VendorfetchSweeperRecoveries',
    ]);
    const cases = (parse(await readFile(RULES_TEST, 'utf8')) as {
      tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    }).tests.flatMap((t) => t.alert_rule_test);
    const firing = new Set(cases.filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname));
    const quiet = new Set(cases.filter((c) => c.exp_alerts.length === 0).map((c) => c.alertname));
    expect(alerts.filter((a) => !firing.has(a) || !quiet.has(a))).toEqual([]);
  });

  it('promtool test rules: every case passes', async () => {
    const r = await run(promtool, ['test', 'rules', path.join(dir, 'rules-test.yaml')]);
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: expect.stringContaining('SUCCESS') });
  });

  it('the dashboard is a ConfigMap for the Grafana sidecar with the panels people look for', () => {
    expect(configMap.metadata?.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(dashboard).toMatchObject({ title: 'vendorfetch', uid: 'vendorfetch' });
    const titles = (dashboard.panels ?? []).map((p) => p.title);
    for (const t of ['Jobs by status', 'End-to-end latency', 'Vendor call latency', 'Vendor call results', 'Quota use against quota', 'Circuit breaker state', 'Stream lag per pool', 'Worker replicas per pool']) {
      expect(titles).toContainEqual(expect.stringContaining(t));
    }
  });

  it('every metric a rule or a dashboard panel names is exported by the programs', async () => {
    const exported = await exportedMetricNames();
    const used = [...groups.flatMap((g) => g.rules.map((r) => r.expr)), ...dashboardExpressions(dashboard as Parameters<typeof dashboardExpressions>[0])];
    const names = new Set(used.flatMap(metricNames));
    expect(names.size).toBeGreaterThan(10);
    expect([...names].filter((n) => !exported.has(n)).sort()).toEqual([]);
  });

  it('the name check notices a metric nobody exports (and the old prefixed process metrics)', async () => {
    const exported = await exportedMetricNames();
    const exprs = [
      'sum by (vendor) (rate(vendorfetch_no_such_total{vendor=~"$vendor"}[$__rate_interval])) > 0',
      'max(vendorfetch_worker_process_resident_memory_bytes) offset 5m',
      'histogram_quantile(0.95, sum by (le) (rate(vendorfetch_job_duration_seconds_bucket[5m])))',
    ];
    const unknown = exprs.flatMap(metricNames).filter((n) => !exported.has(n));
    expect(unknown).toEqual(['vendorfetch_no_such_total', 'vendorfetch_worker_process_resident_memory_bytes']);
  });
});
