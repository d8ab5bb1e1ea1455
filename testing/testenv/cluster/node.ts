// One real Kubernetes node on this machine: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, containerd (its own config, root, state and socket), kubelet, kube-proxy
// (iptables) and CoreDNS, all v1.33 from the multi-call binary, all writing inside one run
// dir. `startCluster` writes the state file before it changes anything on the machine, so a
// `down` after a failed or killed `up` still finds and removes everything.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Resolver } from 'node:dns/promises';
import os from 'node:os';
import path from 'node:path';
import { type Binaries } from '../binaries.js';
import { distinctFreePorts, linkBinaries } from '../env.js';
import { httpGet, waitUntil } from '../http.js';
import { renderKubeconfig, renderTokenFile, type TokenUser } from '../kubeconfig.js';
import { isRunning, spawnServer, stopProcesses, type ServerProcess, type StartedServer } from '../processes.js';
import {
  API_PORT,
  CLUSTER_DOMAIN,
  NET,
  NODE_NAME,
  clusterPaths,
  renderCniConfig,
  renderContainerdConfig,
  renderCorefile,
  renderKubeProxyConfig,
  renderKubeletConfig,
  renderResolvConf,
} from './config.js';
import { cleanHost, leftovers, prepareHost, run, snapshotHost, type HostSnapshot } from './host.js';
import { API_SERVER_URL, makePki } from './pki.js';

export interface ClusterState {
  rootDir: string;
  kubeconfig: string;
  apiServerUrl: string;
  binDir: string;
  containerdSocket: string;
  version: string;
  host: HostSnapshot;
  processes: ServerProcess[];
  /** Images imported into the node's containerd. */
  images: string[];
  startedAt: string;
}

export interface ClusterOptions {
  binaries: Binaries;
  /** Writes the state as soon as there is something to clean up, and again at the end. */
  saveState: (s: ClusterState) => Promise<void>;
  /** Removes it again after a failed start-up was cleaned up without a trace. */
  removeState: () => Promise<void>;
  /** Image archives (OCI) to import into containerd before the node registers. */
  imageArchives: string[];
  /** Reference of the pause image (containerd's sandbox_image); must be among the archives. */
  pauseImage: string;
  log: (m: string) => void;
  cniBinDir?: string;
}

const CONTEXT_USERS = {
  admin: { name: 'admin', groups: ['system:masters'] },
  kubelet: { name: `system:node:${NODE_NAME}`, groups: ['system:nodes'] },
  controllerManager: { name: 'system:kube-controller-manager', groups: [] },
  scheduler: { name: 'system:kube-scheduler', groups: [] },
  proxy: { name: 'system:kube-proxy', groups: [] },
  coredns: { name: 'vf:coredns', groups: [] },
} as const;
type Identity = keyof typeof CONTEXT_USERS;

export async function startCluster(opts: ClusterOptions): Promise<ClusterState> {
  const t0 = Date.now();
  const { log } = opts;
  // A short path: unix socket paths are limited to 108 bytes.
  const rootDir = await mkdtemp(path.join(os.tmpdir(), 'vf-cluster-'));
  const p = clusterPaths(rootDir);
  const dirs = { pki: `${rootDir}/pki`, logs: `${rootDir}/logs`, bin: `${rootDir}/bin`, etcd: `${rootDir}/etcd`, conf: `${rootDir}/conf` };
  for (const d of [...Object.values(dirs), p.cniConfDir, p.cniDataDir, p.kubeletRoot, p.podLogs, path.dirname(p.containerdSocket)]) await mkdir(d, { recursive: true });
  const started: StartedServer[] = [];
  const state: ClusterState = {
    rootDir,
    kubeconfig: `${rootDir}/kubeconfig`,
    apiServerUrl: API_SERVER_URL,
    binDir: dirs.bin,
    containerdSocket: p.containerdSocket,
    version: opts.binaries.kubernetes.version,
    host: await snapshotHost(),
    processes: [],
    images: [],
    startedAt: new Date().toISOString(),
  };
  const record = async () => {
    state.processes = started.map(({ name, pid, binary, logFile }) => ({ name, pid, binary, logFile }));
    await opts.saveState(state);
  };
  await record();
  const start = async (name: string, program: string, args: string[]) => {
    const s = spawnServer({ name, binary: path.join(dirs.bin, program), args, logFile: `${dirs.logs}/${name}.log`, detached: true });
    started.push(s);
    await record();
    return s;
  };
  const bin = (program: string) => path.join(dirs.bin, program);

  try {
    await linkBinaries(opts.binaries, dirs.bin);
    await prepareHost(state.host);
    const pki = await makePki(dirs.pki);
    const caPem = await readFile(pki.caCert, 'utf8');

    // One token per component; each gets a kubeconfig of its own.
    const users = Object.fromEntries(
      Object.entries(CONTEXT_USERS).map(([k, u]) => [k, { name: u.name, token: randomBytes(24).toString('hex'), groups: [...u.groups] }]),
    ) as Record<Identity, TokenUser>;
    const tokenFile = `${dirs.pki}/tokens.csv`;
    await writeFile(tokenFile, renderTokenFile(Object.values(users)), { mode: 0o600 });
    const kubeconfigOf = async (id: Identity) => {
      const file = id === 'admin' ? state.kubeconfig : `${dirs.conf}/${id}.kubeconfig`;
      await writeFile(file, renderKubeconfig({ server: API_SERVER_URL, caPem, users: [users[id]] }), { mode: 0o600 });
      return file;
    };

    const [etcdPort, proxyMetrics, proxyHealth, dnsReady, dnsHealth, cmPort, schedPort] = (await distinctFreePorts(7)) as number[] as [
      number, number, number, number, number, number, number,
    ];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = await start('etcd', 'etcd', [
      '--data-dir', dirs.etcd, '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
      '--listen-peer-urls', 'http://127.0.0.1:0', '--unsafe-no-fsync', '--log-level', 'warn',
    ]);
    await waitUntil('etcd', etcd, 30_000, async () => (await httpGet(`${etcdUrl}/health`)).status === 200);

    const api = await start('kube-apiserver', 'kube-apiserver', [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${NET.nodeIp}`,
      `--advertise-address=${NET.nodeIp}`,
      `--secure-port=${API_PORT}`,
      `--tls-cert-file=${pki.apiserverCert}`,
      `--tls-private-key-file=${pki.apiserverKey}`,
      `--client-ca-file=${pki.caCert}`,
      `--kubelet-client-certificate=${pki.kubeletClientCert}`,
      `--kubelet-client-key=${pki.kubeletClientKey}`,
      '--kubelet-preferred-address-types=InternalIP',
      `--service-cluster-ip-range=${NET.serviceCidr}`,
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      `--token-auth-file=${tokenFile}`,
      `--service-account-issuer=https://kubernetes.default.svc.${CLUSTER_DOMAIN}`,
      `--service-account-key-file=${pki.serviceAccountKey}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      '--allow-privileged=true',
      '--profiling=false',
      '--v=0',
    ]);
    const adminKubeconfig = await kubeconfigOf('admin');
    await waitUntil('kube-apiserver', api, 120_000, async () => (await httpGet(`${API_SERVER_URL}/readyz`, { ca: caPem, token: users.admin.token })).status === 200);
    log(`cluster: apiserver ready after ${secs(t0)}`);

    // containerd first (the kubelet needs its socket), with the images loaded before the node
    // registers, so that the first pods find them.
    await writeFile(`${p.cniConfDir}/10-vf-cluster.conflist`, renderCniConfig(p));
    await writeFile(p.resolvConf, renderResolvConf());
    const containerdConfig = `${dirs.conf}/containerd.toml`;
    await writeFile(containerdConfig, renderContainerdConfig(p, opts.pauseImage, opts.cniBinDir ?? '/usr/lib/cni'));
    const containerd = spawnServer({ name: 'containerd', binary: await which('containerd'), args: ['--config', containerdConfig], logFile: `${dirs.logs}/containerd.log`, detached: true });
    started.push(containerd);
    await record();
    await waitUntil('containerd', containerd, 30_000, async () => {
      await run('ctr', ['--address', p.containerdSocket, 'version'], { timeoutMs: 5_000 });
      return true;
    });
    state.images = await importImages(p.containerdSocket, opts.imageArchives, log);
    await record();

    await start('kube-controller-manager', 'kube-controller-manager', [
      `--kubeconfig=${await kubeconfigOf('controllerManager')}`,
      '--use-service-account-credentials',
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--cluster-cidr=${NET.podCidr}`,
      `--service-cluster-ip-range=${NET.serviceCidr}`,
      '--allocate-node-cidrs=false',
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${cmPort}`,
      // Notice a dead node (and reschedule) in seconds, as a test cluster should.
      '--node-monitor-grace-period=20s',
      '--v=0',
    ]);
    await start('kube-scheduler', 'kube-scheduler', [
      `--kubeconfig=${await kubeconfigOf('scheduler')}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      '--v=0',
    ]);
    const kubeletConfig = `${dirs.conf}/kubelet.json`;
    await writeFile(kubeletConfig, renderKubeletConfig(p, { clientCaFile: pki.caCert, cgroupRoot: state.host.cgroupRoot }));
    await start('kubelet', 'kubelet', [
      `--config=${kubeletConfig}`,
      `--kubeconfig=${await kubeconfigOf('kubelet')}`,
      `--root-dir=${p.kubeletRoot}`,
      `--cert-dir=${dirs.pki}/kubelet`,
      `--node-ip=${NET.nodeIp}`,
      `--hostname-override=${NODE_NAME}`,
      '--v=0',
    ]);
    const proxyConfig = `${dirs.conf}/kube-proxy.json`;
    await writeFile(proxyConfig, renderKubeProxyConfig({ kubeconfig: await kubeconfigOf('proxy'), metricsPort: proxyMetrics, healthzPort: proxyHealth }));
    await start('kube-proxy', 'kube-proxy', [`--config=${proxyConfig}`, '--v=0']);

    // Cluster DNS: CoreDNS as a node process on the node's address, behind the kube-dns Service.
    await kubectl(bin('kubectl'), adminKubeconfig, ['apply', '-f', '-'], clusterDnsObjects());
    const corefile = `${dirs.conf}/Corefile`;
    await writeFile(corefile, renderCorefile({ kubeconfig: await kubeconfigOf('coredns'), readyPort: dnsReady, healthPort: dnsHealth }));
    const coredns = await start('coredns', 'coredns', ['-conf', corefile]);

    const nodeReady = started.find((s) => s.name === 'kubelet')!;
    await waitUntil('node Ready', nodeReady, 180_000, async () => {
      const out = await kubectl(bin('kubectl'), adminKubeconfig, ['get', 'node', NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
      return out.trim() === 'True';
    });
    log(`cluster: node ${NODE_NAME} Ready after ${secs(t0)}`);
    await waitUntil('cluster DNS', coredns, 60_000, async () => {
      const r = new Resolver({ timeout: 1_000, tries: 1 });
      r.setServers([NET.dnsServiceIp]);
      const a = await r.resolve4(`kubernetes.default.svc.${CLUSTER_DOMAIN}`);
      return a.includes(NET.apiServiceIp);
    });
    // The default ServiceAccount appears once the controller-manager runs; pods need it.
    await waitUntil('default ServiceAccount', nodeReady, 60_000, async () => {
      await kubectl(bin('kubectl'), adminKubeconfig, ['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name']);
      return true;
    });
    log(`cluster: up in ${secs(t0)} (Kubernetes ${state.version}, node ${NET.nodeIp}, pods ${NET.podCidr}, services ${NET.serviceCidr}, DNS ${NET.dnsServiceIp}; run dir ${rootDir})`);
    await record();
    return state;
  } catch (err) {
    log(`cluster: start-up failed: ${(err as Error).message}`);
    const problems = await stopCluster(state, log);
    if (problems.length) log(`cluster: the failed start-up left something behind; \`npm run cluster -- down\` tries again:\n  ${problems.join('\n  ')}`);
    else await opts.removeState();
    throw err;
  }
}

/** Stop every process by PID, then remove what they left on the machine, then the run dir. */
export async function stopCluster(state: ClusterState, log: (m: string) => void): Promise<string[]> {
  // kubelet first (it would restart containers), containerd last of the node programs.
  const order = ['kubelet', 'kube-proxy', 'coredns', 'kube-scheduler', 'kube-controller-manager', 'containerd', 'kube-apiserver', 'etcd'];
  const byOrder = [...state.processes].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  await stopProcesses(byOrder, 10_000);
  // kube-proxy's own cleanup removes its chains by name; the generic pass below catches the rest.
  const proxy = path.join(state.binDir, 'kube-proxy');
  await run(proxy, ['--cleanup'], { allowFail: true, timeoutMs: 30_000 }).catch(() => undefined);
  const problems = await cleanHost(state.host, state.rootDir, log);
  const left = await leftovers(state.host, state.rootDir);
  if (!left.length && path.basename(state.rootDir).startsWith('vf-cluster-')) await rm(state.rootDir, { recursive: true, force: true });
  return [...problems, ...left.map((l) => `left behind: ${l}`)];
}

export function clusterProcesses(state: ClusterState): { name: string; pid: number; running: boolean }[] {
  return state.processes.map((p) => ({ name: p.name, pid: p.pid, running: isRunning(p) }));
}

export async function importImages(socket: string, archives: string[], log: (m: string) => void): Promise<string[]> {
  const refs: string[] = [];
  for (const a of archives) {
    const t = Date.now();
    const out = await run('ctr', ['--address', socket, '-n', 'k8s.io', 'images', 'import', '--no-unpack', a], { timeoutMs: 300_000 });
    const ref = out.match(/unpacking (\S+)|^(\S+)\s/m)?.slice(1).find(Boolean) ?? path.basename(a);
    refs.push(ref);
    log(`cluster: imported ${path.basename(a)} in ${secs(t)}`);
  }
  return refs;
}

export function kubectl(binary: string, kubeconfig: string, args: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(binary, [`--kubeconfig=${kubeconfig}`, ...args], { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr.trim() || err.message}`)) : resolve(stdout),
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

/** The kube-dns Service, pointing at CoreDNS on the node's address, and CoreDNS's read access. */
function clusterDnsObjects(): string {
  const objects = [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'vf:coredns' },
      rules: [
        { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'vf:coredns' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'vf:coredns' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: CONTEXT_USERS.coredns.name }],
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
      spec: {
        clusterIP: NET.dnsServiceIp,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        ],
      },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'kube-dns-node',
        namespace: 'kube-system',
        labels: { 'kubernetes.io/service-name': 'kube-dns', 'endpointslice.kubernetes.io/managed-by': 'vf-cluster' },
      },
      addressType: 'IPv4',
      endpoints: [{ addresses: [NET.nodeIp], conditions: { ready: true } }],
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
      ],
    },
  ];
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });
}

async function which(cmd: string): Promise<string> {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin'])) {
    const candidate = path.join(dir, cmd);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new Error(`${cmd} is not installed (apt-get install -y containerd runc containernetworking-plugins)`);
}

const secs = (t: number) => `${((Date.now() - t) / 1000).toFixed(1)} s`;
