// Smoke suite for a real cluster: what the chart's end-to-end suite takes for granted. Runs on
// whatever cluster `npm run e2e:cluster` brought up (the local node here, kind elsewhere), with
// the product image as the test workload (it has Node, so servers and clients are one-liners).
import { apply, clusterEnv, createNamespace, getJson, kubectl, kubectlResult, waitFor, withDump } from './support.js';

const env = clusterEnv();
const image = `${env.image.repository}:${env.image.tag}`;
let ns = '';

beforeAll(async () => {
  ns = await createNamespace('vf-smoke');
});

/** A Pod that runs a Node script once (restartPolicy Never) and returns its logs. */
async function runScript(name: string, script: string): Promise<string> {
  await apply(
    [
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'main', image, imagePullPolicy: 'Never', args: ['node', '-e', script] }],
        },
      },
    ],
    ns,
  );
  const phase = await waitFor(`pod ${name} to finish`, 90_000, async () => {
    const p = (await getJson(['-n', ns, 'get', 'pod', name])).status?.phase as string | undefined;
    return p === 'Succeeded' || p === 'Failed' ? p : undefined;
  }, ns);
  const logs = await kubectl(['-n', ns, 'logs', name]);
  if (phase !== 'Succeeded') throw new Error(`pod ${name} failed; logs:\n${logs}`);
  return logs;
}

const WEB_SERVER = `require('node:http').createServer((q, r) => r.end(require('node:os').hostname())).listen(8080)`;

describe('a one-node cluster', () => {
  it('runs a Deployment of 2 replicas to Ready', () =>
    withDump(ns, async () => {
      await apply(
        [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'web' },
            spec: {
              replicas: 2,
              selector: { matchLabels: { app: 'web' } },
              template: {
                metadata: { labels: { app: 'web' } },
                spec: {
                  containers: [
                    {
                      name: 'web',
                      image,
                      imagePullPolicy: 'Never',
                      args: ['node', '-e', WEB_SERVER],
                      ports: [{ containerPort: 8080 }],
                      readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
                    },
                  ],
                },
              },
            },
          },
          {
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: 'web' },
            spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
          },
        ],
        ns,
      );
      const ready = await waitFor('2 ready replicas', 120_000, async () => {
        const d = await getJson(['-n', ns, 'get', 'deployment', 'web']);
        return d.status?.readyReplicas === 2 ? d.status.readyReplicas : undefined;
      });
      expect(ready).toBe(2);
    }));

  it('reaches the Service by ClusterIP and by DNS name from another pod', () =>
    withDump(ns, async () => {
      const svc = await getJson(['-n', ns, 'get', 'service', 'web']);
      const clusterIp = svc.spec.clusterIP as string;
      const pods = await getJson(['-n', ns, 'get', 'pods', '-l', 'app=web']);
      const webNames = (pods.items as { metadata: { name: string } }[]).map((p) => p.metadata.name);
      const script = `
        const urls = ['http://${clusterIp}/', 'http://web/', 'http://web.${ns}.svc.cluster.local/'];
        Promise.all(urls.map(async (u) => [u, await (await fetch(u)).text()]))
          .then((r) => console.log(JSON.stringify(Object.fromEntries(r))), (e) => { console.error(e); process.exit(1); });`;
      const answers = JSON.parse((await runScript('client', script)).trim()) as Record<string, string>;
      expect(Object.keys(answers)).toHaveLength(3);
      for (const [url, host] of Object.entries(answers)) expect({ url, host: webNames.includes(host) }).toEqual({ url, host: true });
    }));

  it("authenticates a pod to the apiserver with its projected service-account token", () =>
    withDump(ns, async () => {
      const script = `
        const fs = require('node:fs'), https = require('node:https');
        const dir = '/var/run/secrets/kubernetes.io/serviceaccount';
        const req = https.request('https://kubernetes.default.svc/apis/authentication.k8s.io/v1/selfsubjectreviews', {
          method: 'POST', ca: fs.readFileSync(dir + '/ca.crt'),
          headers: { authorization: 'Bearer ' + fs.readFileSync(dir + '/token', 'utf8'), 'content-type': 'application/json' },
        }, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body: JSON.parse(b) }))); });
        req.on('error', (e) => { console.error(e); process.exit(1); });
        req.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }));`;
      const r = JSON.parse((await runScript('whoami', script)).trim());
      expect(r.status).toBe(201);
      expect(r.body.status.userInfo.username).toBe(`system:serviceaccount:${ns}:default`);
    }));

  it('gives pods no route beyond the node, and no DNS for outside names', () =>
    withDump(ns, async () => {
      // 192.0.2.1 is this machine's gateway; 198.51.100.1 is outside everything.
      const script = `
        const net = require('node:net'), dns = require('node:dns/promises');
        const connect = (host) => new Promise((ok) => {
          const s = net.connect({ host, port: 80, timeout: 3000 });
          s.on('connect', () => { s.destroy(); ok('connected'); });
          s.on('timeout', () => { s.destroy(); ok('timeout'); });
          s.on('error', (e) => ok(e.code));
        });
        (async () => {
          const out = { gateway: await connect('192.0.2.1'), outside: await connect('198.51.100.1') };
          out.dns = await dns.resolve4('example.com').then(() => 'resolved', (e) => e.code);
          console.log(JSON.stringify(out));
        })();`;
      const r = JSON.parse((await runScript('egress', script)).trim());
      expect(r.gateway).toBe('ENETUNREACH');
      expect(r.outside).toBe('ENETUNREACH');
      expect(r.dns).not.toBe('resolved');
    }));

  it('restarts a container that exits, and its logs stay readable', () =>
    withDump(ns, async () => {
      // Runs 4 s, then fails: long enough to read the restarted container while it runs (the
      // kubelet keeps one dead container per pod, so --previous is the one before it).
      const crash = `console.log('started at ' + Date.now()); setTimeout(() => process.exit(3), 4000)`;
      await apply(
        [
          {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: 'crasher' },
            spec: { containers: [{ name: 'main', image, imagePullPolicy: 'Never', args: ['node', '-e', crash] }] },
          },
        ],
        ns,
      );
      const status = await waitFor('the restarted container to run', 120_000, async () => {
        const p = await getJson(['-n', ns, 'get', 'pod', 'crasher']);
        const s = p.status?.containerStatuses?.[0];
        return s && s.restartCount >= 1 && s.state?.running && s.lastState?.terminated ? s : undefined;
      });
      expect(status.lastState.terminated.exitCode).toBe(3);
      const startedAt = (logs: string) => Number(logs.match(/^started at (\d+)$/m)?.[1]);
      const previous = startedAt(await kubectl(['-n', ns, 'logs', 'crasher', '--previous']));
      const current = startedAt(await kubectl(['-n', ns, 'logs', 'crasher']));
      expect(previous).toBeGreaterThan(0);
      expect(current).toBeGreaterThan(previous);
    }));

  it('garbage-collects the ReplicaSets and Pods of a deleted Deployment', () =>
    withDump(ns, async () => {
      const rsBefore = await getJson(['-n', ns, 'get', 'replicasets', '-l', 'app=web']);
      expect(rsBefore.items.length).toBeGreaterThan(0);
      await kubectl(['-n', ns, 'delete', 'deployment', 'web', '--wait=false']);
      await waitFor('ReplicaSets and Pods to go', 90_000, async () => {
        const rs = await getJson(['-n', ns, 'get', 'replicasets', '-l', 'app=web']);
        const pods = await getJson(['-n', ns, 'get', 'pods', '-l', 'app=web']);
        return rs.items.length === 0 && pods.items.length === 0;
      });
    }));

  it('completes the deletion of a namespace that still holds pods', async () => {
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
    await waitFor(`namespace ${ns} to be gone`, 120_000, async () => {
      const r = await kubectlResult(['get', 'namespace', ns]);
      return r.code !== 0 && /NotFound/.test(r.stderr);
    });
  });
});
