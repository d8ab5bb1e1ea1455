// The shipped chart on a real cluster, from `helm install` to `helm uninstall`, in order: each
// step builds on the one before (one release, one namespace), and a failure carries the
// namespace's state. Runs on whatever cluster e2e/cluster/run.sh brought up (local node or kind).
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ResilientForward } from './portforward.js';
import { REPO_ROOT, chartValues, clusterEnv, getJson, kubectl, kubectlResult, waitFor, withDump } from './support.js';
import { execFile } from 'node:child_process';

const env = clusterEnv();
// The example VendorPools call the mocks at http://vendorfetch-mock-…, the names this release gets.
const RELEASE = 'vendorfetch';
const NS = `vf-chart-${Date.now().toString(36)}`;
const CHART = path.join(REPO_ROOT, 'charts', 'vendorfetch');

function helm(args: string[], timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      path.join(env.bin, 'helm'),
      [`--kubeconfig=${env.kubeconfig}`, '-n', NS, ...args],
      { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024, env: { ...process.env, HELM_CACHE_HOME: helmHome, HELM_CONFIG_HOME: helmHome, HELM_DATA_HOME: helmHome } },
      (err, stdout, stderr) => (err ? reject(new Error(`helm ${args.join(' ')} failed: ${stderr.trim() || err.message}\n${stdout}`)) : resolve(stdout)),
    );
  });
}

let helmHome = '';
let api: ResilientForward;

async function submit(vendor: string, payload: object, key = `e2e-${Math.random().toString(36).slice(2)}`): Promise<string> {
  // The Idempotency-Key makes a retried POST (after a port-forward broke) create nothing new;
  // while the first attempt is still in flight the api answers 409, and we ask again.
  for (let attempt = 0; ; attempt++) {
    const r = await api.fetch('/jobs', { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify({ vendor, payload }) });
    const body = (await r.json()) as { request_id?: string };
    if (r.status === 409 && attempt < 20) {
      await new Promise((res) => setTimeout(res, 250));
      continue;
    }
    if (r.status !== 202 || !body.request_id) throw new Error(`POST /jobs for ${vendor}: ${r.status} ${JSON.stringify(body)}`);
    return body.request_id;
  }
}

interface Job {
  request_id: string;
  status: string;
  result?: unknown;
  error?: unknown;
  completed_at?: string;
}

async function job(id: string): Promise<Job> {
  const r = await api.fetch(`/jobs/${id}`);
  if (r.status !== 200) throw new Error(`GET /jobs/${id}: ${r.status}`);
  return (await r.json()) as Job;
}

/** The sync vendor's quota in the sync-vendors example pool. */
async function setSyncQuota(requestsPerSecond: number, burst: number): Promise<void> {
  const ops = [
    { op: 'replace', path: '/spec/vendors/0/quota/requestsPerSecond', value: requestsPerSecond },
    { op: 'replace', path: '/spec/vendors/0/quota/burst', value: burst },
  ];
  await kubectl(['-n', NS, 'patch', 'vendorpool', 'sync-vendors', '--type=json', '-p', JSON.stringify(ops)]);
}

/** Wait until every job is complete; fail at once on a failed job. Returns the jobs. */
async function allComplete(ids: string[], timeoutMs: number): Promise<Map<string, Job>> {
  const done = new Map<string, Job>();
  await waitFor(`${ids.length} jobs to complete`, timeoutMs, async () => {
    // Only the oldest 32 unfinished jobs per look (jobs finish roughly in order): each GET is a
    // read of the dev store, and re-reading every open job on every pass, 500 at a time, made
    // this test the store's heaviest client, slowing the very jobs it waits for.
    for (;;) {
      const open = ids.filter((i) => !done.has(i)).slice(0, 32);
      if (open.length === 0) return true;
      let finished = 0;
      for (let i = 0; i < open.length; i += 16) {
        await Promise.all(
          open.slice(i, i + 16).map(async (id) => {
            const j = await job(id);
            if (j.status === 'failed') throw Object.assign(new Error(`job ${id} failed: ${JSON.stringify(j.error)}`), { fatal: true });
            if (j.status === 'complete') {
              done.set(id, j);
              finished++;
            }
          }),
        );
      }
      if (finished < open.length) return false; // the head is still running: look again shortly
    }
  }, NS);
  return done;
}

/**
 * Submit `n` jobs from a pod inside the cluster, straight to the api Service: a port-forward
 * carries one client's checks well, but not hundreds of POSTs at once. Returns their ids.
 */
let loaders = 0;
async function submitMany(vendor: string, n: number, concurrency = 16): Promise<string[]> {
  const name = `submit-${++loaders}`;
  const script = `
    const n = ${n}, c = ${concurrency}, ids = new Array(n); let next = 0;
    const one = async (i) => {
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await fetch('http://${RELEASE}-api:8080/jobs', { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': '${name}-' + i },
            body: JSON.stringify({ vendor: '${vendor}', payload: { company: 'acme', n: i } }) });
          if (r.status === 202) return (await r.json()).request_id;
          if (attempt > 50) throw new Error('POST ' + r.status + ' ' + (await r.text()));
        } catch (e) { if (attempt > 50) throw e; }
        await new Promise((res) => setTimeout(res, 200));
      }
    };
    Promise.all(Array.from({ length: c }, async () => { for (let i = next++; i < n; i = next++) ids[i] = await one(i); }))
      .then(() => console.log(JSON.stringify(ids)), (e) => { console.error(String(e)); process.exit(1); });`;
  await kubectl(['-n', NS, 'apply', '-f', '-'], {
    stdin: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: {
        restartPolicy: 'Never',
        automountServiceAccountToken: false,
        containers: [{ name: 'submit', image: `${env.image.repository}:${env.image.tag}`, imagePullPolicy: 'Never', args: ['node', '-e', script] }],
      },
    }),
  });
  await waitFor(`pod ${name} to submit ${n} jobs`, 300_000, async () => {
    const phase = (await getJson(['-n', NS, 'get', 'pod', name])).status?.phase;
    if (phase === 'Failed') throw Object.assign(new Error(`${name} failed: ${await kubectl(['-n', NS, 'logs', name])}`), { fatal: true });
    return phase === 'Succeeded';
  }, NS);
  const ids = JSON.parse((await kubectl(['-n', NS, 'logs', name])).trim().split('\n').pop()!) as string[];
  expect(ids).toHaveLength(n);
  return ids;
}

// The mocks' admin endpoints (knobs, counters), one forward per mock port (9101 sync, 9102 async).
const mockForwards = new Map<number, ResilientForward>();
function mockFetch(port: number, p: string, init?: RequestInit): Promise<Response> {
  const service = port === 9101 ? `${RELEASE}-mock-sync` : `${RELEASE}-mock-async`;
  if (!mockForwards.has(port)) mockForwards.set(port, new ResilientForward(NS, `svc/${service}`, port));
  return mockForwards.get(port)!.fetch(p, init);
}

async function mockConfig(port: number, knobs: object): Promise<void> {
  const r = await mockFetch(port, '/_config', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(knobs) });
  if (!r.ok) throw new Error(`mock ${port} /_config: ${r.status} ${await r.text()}`);
}

async function podsReady(selector: string): Promise<number> {
  const pods = await getJson(['-n', NS, 'get', 'pods', '-l', selector]);
  return (pods.items as any[]).filter((p) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') && !p.metadata.deletionTimestamp).length;
}

// Each step builds on the one before: after a failure, the rest fail at once instead of each
// waiting out its own timeouts on a broken release. A step's own waits are bounded well inside
// STEP_TIMEOUT_MS, so a slow step fails with the namespace's state (jest's own timeout would
// carry none, and would not mark the release broken).
const STEP_TIMEOUT_MS = 20 * 60_000;
let broken = '';
const step = (name: string, body: () => Promise<void>) =>
  it(
    name,
    async () => {
      if (broken) throw new Error(`not run: the earlier step "${broken}" failed`);
      try {
        await withDump(NS, body);
      } catch (err) {
        broken = name;
        throw err;
      }
    },
    STEP_TIMEOUT_MS,
  );

beforeAll(async () => {
  helmHome = await mkdtemp(path.join(os.tmpdir(), 'vf-helm-'));
  api = new ResilientForward(NS, `svc/${RELEASE}-api`, 8080);
});

afterAll(async () => {
  api?.close();
  for (const f of mockForwards.values()) f.close();
  if (broken) {
    // Leave nothing that would stop the next run's install (cluster-scoped RBAC, the namespace,
    // the kept CRD). Pools first, while the controller still runs to remove their finalizers.
    await kubectlResult(['-n', NS, 'delete', 'vendorpools', '--all', '--timeout=60s']);
    await helm(['uninstall', RELEASE, '--wait', '--timeout', '2m']).catch((err) => console.warn(`cleanup: ${(err as Error).message}`));
    await kubectlResult(['delete', 'namespace', NS, '--wait=false']);
    await kubectlResult(['delete', 'crd', 'vendorpools.vendorfetch.io', '--wait=false']);
  }
  await rm(helmHome, { recursive: true, force: true });
});

describe('the chart on a real cluster', () => {
  step('installs: every pod becomes Ready', async () => {
    await helm(['install', RELEASE, CHART, '--create-namespace', ...chartValues(), '--wait', '--timeout', '6m']);
    const pods = await getJson(['-n', NS, 'get', 'pods']);
    const notReady = (pods.items as any[]).filter((p) => !p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
    expect(notReady.map((p) => p.metadata.name)).toEqual([]);
    expect(pods.items.length).toBeGreaterThanOrEqual(7); // api ×2, controller ×2, mocks, redis, mongodb
  });

  step('runs the example VendorPools (worker pods of the real image become Ready), and `helm test` passes', async () => {
    await kubectl(['-n', NS, 'apply', '-k', path.join(REPO_ROOT, 'manifests', 'examples')]);
    for (const pool of ['sync-vendors', 'async-vendors']) {
      await waitFor(`${pool} Ready`, 180_000, async () => {
        const vp = await getJson(['-n', NS, 'get', 'vendorpool', pool]);
        return vp.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
      }, NS);
      const deploy = await getJson(['-n', NS, 'get', 'deployment', `${pool}-workers`]);
      expect(deploy.spec.template.spec.containers[0].image).toBe(`${env.image.repository}:${env.image.tag}`);
      await waitFor(`${pool} worker pods Ready`, 180_000, async () => (await getJson(['-n', NS, 'get', 'deployment', `${pool}-workers`])).status?.readyReplicas >= 1, NS);
    }
    const table = await kubectl(['-n', NS, 'get', 'vp']);
    expect(table.split('\n')[0]).toMatch(/NAME\s+VENDORS\s+READY\s+REPLICAS\s+READY-REPLICAS\s+LAG\s+AGE/);
    expect(table).toMatch(/sync-vendors\s+sync\s+True\s/);
    expect(table).toMatch(/sync-vendors\s+\S*sync/);
    // The chart's test hook submits a job to the api Service and waits for it (vendor "sync").
    const out = await helm(['test', RELEASE, '--timeout', '4m']);
    expect(out).toMatch(/Phase:\s+Succeeded/);
  });

  step('shows a worker pod that no node can take as Pending in the VendorPool status', async () => {
    // A pool whose workers ask for a node label this cluster has on no node.
    await kubectl(['-n', NS, 'apply', '-f', '-'], {
      stdin: JSON.stringify({
        apiVersion: 'vendorfetch.io/v1alpha1',
        kind: 'VendorPool',
        metadata: { name: 'unplaceable' },
        spec: {
          vendors: [{ name: 'unplaceable', mode: 'sync', url: `http://${RELEASE}-mock-sync:9101/fetch`, quota: { requestsPerSecond: 1 } }],
          workers: { minReplicas: 1, maxReplicas: 1, nodeSelector: { 'vendorfetch.io/e2e-node': 'none' } },
        },
      }),
    });
    const ready = await waitFor('the pool to report its unschedulable worker', 120_000, async () => {
      const vp = await getJson(['-n', NS, 'get', 'vendorpool', 'unplaceable']);
      return vp.status?.unschedulablePods >= 1 ? vp.status.conditions.find((c: any) => c.type === 'Ready') : undefined;
    }, NS);
    expect(ready).toMatchObject({ status: 'False', reason: 'WorkersUnschedulable' });
    expect(ready.message).toMatch(/node affinity\/selector|didn't match/);
    const pods = await getJson(['-n', NS, 'get', 'pods', '-l', 'vendorfetch.io/pool=unplaceable']);
    expect((pods.items as any[]).map((p) => p.status.phase)).toEqual(['Pending']);
    await kubectl(['-n', NS, 'delete', 'vendorpool', 'unplaceable', '--wait=true', '--timeout=120s']);
  });

  step('completes a sync and an async job through the api Service, with cleaned results', async () => {
    const syncId = await submit('sync', { company: 'acme' });
    const asyncId = await submit('async', { company: 'acme' });
    const done = await allComplete([syncId, asyncId], 120_000);
    for (const j of done.values()) {
      // Request ids (UUIDs) would look like card numbers to the patterns below.
      const text = JSON.stringify(j.result).replace(/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/g, '<id>');
      // The mocks answer with padded strings and PII (SSNs, card numbers, e-mail addresses, a
      // password); cleaning trims the strings and drops or redacts the PII.
      expect(text).toMatch(/\[REDACTED\]/);
      expect(text).not.toMatch(/\d{3}-\d{2}-\d{4}|\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{4}|[\w.]+@[\w.]+\.\w+|"password"/);
      expect(text).not.toMatch(/":"\s|\s"[,}\]]/);
    }
    // The async job was finished by the mock pod's webhook through cluster DNS, signed with the
    // Secret the chart made: the mock counts a 200 answer from the api.
    const counters = (await (await mockFetch(9102, '/_counters?perKey=false')).json()) as { webhookStatuses: Record<string, number> };
    expect(counters.webhookStatuses['200']).toBeGreaterThanOrEqual(1);
  });

  step('scales a lagging pool up, and back down after its stabilisation window', async () => {
    await kubectl(['-n', NS, 'patch', 'vendorpool', 'sync-vendors', '--type=merge', '-p', JSON.stringify({ spec: { workers: { scaleDownStabilizationSeconds: 15, maxReplicas: 3 } } })]);
    // A slow vendor under a low quota: one worker cannot keep up however slowly this machine
    // submits (a loaded node once posted too slowly for a 1.5 s vendor alone to build lag).
    await setSyncQuota(5, 5);
    await mockConfig(9101, { latencyMs: 1500 });
    const before = (await getJson(['-n', NS, 'get', 'deployment', 'sync-vendors-workers'])).spec.replicas as number;
    const ids = await submitMany('sync', 600);
    const grown = await waitFor('more ready worker pods', 180_000, async () => {
      const d = await getJson(['-n', NS, 'get', 'deployment', 'sync-vendors-workers']);
      return d.spec.replicas > before && d.status.readyReplicas > before ? d.status.readyReplicas : undefined;
    }, NS);
    expect(grown).toBeGreaterThan(before);
    await mockConfig(9101, { latencyMs: 0 });
    await setSyncQuota(100, 20); // the example's quota
    await allComplete(ids, 600_000);
    await waitFor('scale back down', 180_000, async () => (await getJson(['-n', NS, 'get', 'deployment', 'sync-vendors-workers'])).spec.replicas === 1, NS);
  });

  step('hands the Lease to the other controller when the leader dies; a quota edit reaches the workers', async () => {
    const lease = await getJson(['-n', NS, 'get', 'lease', `${RELEASE}-controller`]);
    const leader = lease.spec.holderIdentity as string;
    expect(leader).toMatch(new RegExp(`^${RELEASE}-controller-`));
    await kubectl(['-n', NS, 'delete', 'pod', leader, '--wait=false']);
    const next = await waitFor('a new leader', 90_000, async () => {
      const l = await getJson(['-n', NS, 'get', 'lease', `${RELEASE}-controller`]);
      return l.spec.holderIdentity && l.spec.holderIdentity !== leader ? (l.spec.holderIdentity as string) : undefined;
    }, NS);
    expect(next).not.toBe(leader);
    // Lower the quota, then measure it on the vendor's own clock.
    await setSyncQuota(4, 2);
    await waitFor('the new leader to observe the edit', 60_000, async () => {
      const vp = await getJson(['-n', NS, 'get', 'vendorpool', 'sync-vendors']);
      return vp.status?.observedGeneration === vp.metadata.generation;
    }, NS);
    await new Promise((r) => setTimeout(r, 3_000)); // registry reload hint + poll
    await mockFetch(9101, '/_reset', { method: 'POST' });
    const ids = await submitMany('sync', 30);
    await allComplete(ids, 120_000);
    const c = (await (await mockFetch(9101, '/_counters?perKey=false')).json()) as { maxRateInAnyRollingSecond: number; served: number };
    expect(c.served).toBeGreaterThanOrEqual(30);
    expect(c.maxRateInAnyRollingSecond).toBeLessThanOrEqual(4);
    // Back to the example's quota for the next steps.
    await setSyncQuota(100, 20);
  });

  step('completes every job, once, when a worker pod is deleted in the middle of a 500-job run', async () => {
    await kubectl(['-n', NS, 'scale', 'deployment', 'sync-vendors-workers', '--replicas=2']);
    await mockConfig(9101, { latencyMs: 50 });
    const ids = await submitMany('sync', 500);
    const pods = await getJson(['-n', NS, 'get', 'pods', '-l', 'vendorfetch.io/pool=sync-vendors']);
    const victim = (pods.items as any[]).find((p) => !p.metadata.deletionTimestamp)?.metadata.name as string;
    expect(victim).toBeTruthy();
    await kubectl(['-n', NS, 'delete', 'pod', victim, '--wait=false']);
    const done = await allComplete(ids, 600_000);
    // A second completion would rewrite completed_at; read every job again a while later.
    await new Promise((r) => setTimeout(r, 5_000));
    for (const id of ids) expect((await job(id)).completed_at).toBe(done.get(id)!.completed_at);
    await mockConfig(9101, { latencyMs: 0 });
  });

  step('completes every job when the Redis pod is killed (the dev Redis keeps nothing)', async () => {
    const ids = await submitMany('sync', 100);
    await kubectl(['-n', NS, 'delete', 'pod', '-l', 'app.kubernetes.io/component=dev-redis', '--grace-period=0', '--force']);
    const more = await waitFor('the api to accept jobs again', 120_000, async () => submitMany('sync', 50).catch(() => undefined), NS);
    await allComplete([...ids, ...more], 600_000);
  });

  step('`helm upgrade` rolls out a changed value and applies a changed CRD', async () => {
    const before = (await getJson(['-n', NS, 'get', 'deployment', `${RELEASE}-api`])).metadata.generation as number;
    // A copy of the chart whose CRD gained a printer column stands in for a newer chart.
    const copy = await mkdtemp(path.join(os.tmpdir(), 'vf-chart-'));
    try {
      await cp(CHART, copy, { recursive: true });
      const crdFile = await findCrdTemplate(copy);
      const crd = await readFile(crdFile, 'utf8');
      const marked = crd.replace(/(\s+- \{name: Age, type: date, jsonPath: \.metadata\.creationTimestamp)/, '$1}\n        - {name: E2EUpgrade, type: string, jsonPath: .metadata.uid, priority: 1');
      expect(marked).not.toBe(crd);
      await writeFile(crdFile, marked);
      await helm(['upgrade', RELEASE, copy, ...chartValues(['logLevel=debug']), '--wait', '--timeout', '6m']);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
    const d = await getJson(['-n', NS, 'get', 'deployment', `${RELEASE}-api`]);
    expect(d.metadata.generation).toBeGreaterThan(before);
    expect(JSON.stringify(d.spec.template.spec.containers[0].env)).toMatch(/"LOG_LEVEL","value":"debug"/);
    const crd = await getJson(['get', 'crd', 'vendorpools.vendorfetch.io']);
    expect(JSON.stringify(crd.spec.versions[0].additionalPrinterColumns)).toMatch(/E2EUpgrade/);
  });

  step('deleting a VendorPool runs its finalizer: Deployment, pods and registry entry go', async () => {
    await kubectl(['-n', NS, 'delete', 'vendorpool', 'async-vendors', '--wait=true', '--timeout=120s']);
    await waitFor('the worker Deployment and its pods to go', 120_000, async () => {
      const d = await kubectlResult(['-n', NS, 'get', 'deployment', 'async-vendors-workers']);
      const pods = await getJson(['-n', NS, 'get', 'pods', '-l', 'vendorfetch.io/pool=async-vendors']);
      return d.code !== 0 && pods.items.length === 0;
    }, NS);
    // The registry no longer knows the vendor: the api refuses new jobs for it.
    const r = await api.fetch('/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ vendor: 'async', payload: {} }) });
    expect(r.status).toBe(422);
  });

  step('`helm uninstall` and deleting the namespace leave nothing behind', async () => {
    await kubectl(['-n', NS, 'delete', 'vendorpool', '--all', '--wait=true', '--timeout=120s']);
    api.close();
    for (const f of mockForwards.values()) f.close();
    await helm(['uninstall', RELEASE, '--wait', '--timeout', '3m']);
    await kubectl(['delete', 'namespace', NS, '--wait=true', '--timeout=180s'], { timeoutMs: 200_000 });
    const ns = await kubectlResult(['get', 'namespace', NS]);
    expect(ns.stderr).toMatch(/NotFound/);
    const clusterScoped = await getJson(['get', 'clusterroles,clusterrolebindings', '-l', `app.kubernetes.io/instance=${RELEASE}`]);
    expect(clusterScoped.items.map((o: any) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
    const everywhere = await getJson(['get', 'vendorpools,leases,secrets,pods', '-A', '-l', `app.kubernetes.io/instance=${RELEASE}`]);
    expect(everywhere.items.map((o: any) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`)).toEqual([]);
    // The CRD alone stays, on purpose (helm.sh/resource-policy: keep: deleting it would delete
    // every VendorPool in the cluster); removing it is the operator's explicit act.
    const crd = await getJson(['get', 'crd', 'vendorpools.vendorfetch.io']);
    expect(crd.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
    await kubectl(['delete', 'crd', 'vendorpools.vendorfetch.io']);
  });
});

/** The CRD as the chart ships it (templates/ when the chart templates it, else crds/). */
async function findCrdTemplate(chartDir: string): Promise<string> {
  for (const candidate of ['templates/crds/vendorpools.vendorfetch.io.yaml', 'templates/crd.yaml', 'templates/crds.yaml', 'crds/vendorpools.vendorfetch.io.yaml']) {
    try {
      const f = path.join(chartDir, candidate);
      if ((await readFile(f, 'utf8')).includes('vendorpools.vendorfetch.io')) return f;
    } catch {
      // next
    }
  }
  throw new Error(`no VendorPool CRD found in ${chartDir}`);
}

