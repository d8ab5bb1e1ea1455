// One test environment: etcd + kube-apiserver (RBAC, token users), FerretDB (SQLite backend),
// a private redis-server, all on free 127.0.0.1 ports with their data in one temp dir.
// `testenv up`, `testenv down` and jest's global setup/teardown all go through here.
import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, mkdir, writeFile, readFile, rm, symlink, access } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '../ports.js';
import { COMPONENTS, KUBERNETES_PROGRAMS, programPath, type Binaries } from './binaries.js';
import { contextName, renderKubeconfig, renderTokenFile, type TokenUser } from './kubeconfig.js';
import { isRunning, spawnServer, stopProcesses, type ServerProcess, type StartedServer } from './processes.js';
import { httpGet, waitUntil } from './http.js';
import { applyCrds } from './crds.js';

/** Everything needed to use, check and stop an environment; serialisable to the state file. */
export interface TestEnvState {
  /** Temp dir holding data, logs, certs, the kubeconfig and bin/; removed by stop. */
  rootDir: string;
  kubeconfig: string;
  apiServerUrl: string;
  mongodbUrl: string;
  redisUrl: string;
  /** Dir with helm, kube-apiserver, etcd, ferretdb, … (symlinks to the cached builds). */
  binDir: string;
  /** Versions of the servers, e.g. { kubernetes: 'v1.33.13' }. */
  versions: Record<string, string>;
  /** Kubeconfig contexts: `admin` is in system:masters, `unprivileged` has no RBAC bindings. */
  contexts: { admin: string; unprivileged: string };
  processes: ServerProcess[];
  /** CRDs from crdDir that the API server rejected or never marked Established. */
  crdErrors: { name: string; error: string }[];
  startedAt: string;
}

export interface StartOptions {
  binaries: Binaries;
  /** See SpawnOptions.detached: true for `testenv up`, false for a test run. */
  detached: boolean;
  /** Folder with CRD YAML files to apply before returning; default none. */
  crdDir?: string;
  /** Path of redis-server (see findExecutable). */
  redisServer: string;
  /** Keep the temp dir (logs) when start-up fails; default false. */
  keepOnFailure?: boolean;
  /** Parent of the temp dir; default os.tmpdir(). */
  tmpDir?: string;
  log?: (msg: string) => void;
}

const ADMIN = 'admin';
const UNPRIVILEGED = 'unprivileged';

/** Start all servers and wait until each serves. On any failure, stops what it started. */
export async function startTestEnv(opts: StartOptions): Promise<TestEnvState> {
  const log = opts.log ?? ((m: string) => console.log(m));
  const t0 = Date.now();
  const rootDir = await mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), 'vf-testenv-'));
  const dirs = {
    etcd: path.join(rootDir, 'etcd'),
    apiserver: path.join(rootDir, 'apiserver'),
    ferretdb: path.join(rootDir, 'ferretdb'),
    redis: path.join(rootDir, 'redis'),
    logs: path.join(rootDir, 'logs'),
    bin: path.join(rootDir, 'bin'),
  };
  await Promise.all(Object.values(dirs).map((d) => mkdir(d, { recursive: true })));
  const started: StartedServer[] = [];
  const bins = opts.binaries;

  try {
    await linkBinaries(bins, dirs.bin);
    const [etcdPort, apiPort, mongoPort, redisPort] = (await distinctFreePorts(4)) as [number, number, number, number];

    const start = (name: string, binary: string, args: string[]) => {
      const s = spawnServer({ name, binary, args, logFile: path.join(dirs.logs, `${name}.log`), detached: opts.detached });
      started.push(s);
      return s;
    };

    // etcd, FerretDB and Redis start together; kube-apiserver needs etcd first.
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = start('etcd', bins.etcd.path, [
      '--data-dir', dirs.etcd,
      '--listen-client-urls', etcdUrl,
      '--advertise-client-urls', etcdUrl,
      '--listen-peer-urls', 'http://127.0.0.1:0',
      '--unsafe-no-fsync',
      '--log-level', 'warn',
    ]);
    const ferret = start('ferretdb', bins.ferretdb.path, [
      '--listen-addr', `127.0.0.1:${mongoPort}`,
      '--sqlite-dir', dirs.ferretdb,
      '--log-level', 'warn',
    ]);
    const redis = start('redis', opts.redisServer, [
      '--port', String(redisPort),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--dir', dirs.redis,
    ]);

    // Credentials for the apiserver, written while etcd boots.
    const users: TokenUser[] = [
      { name: ADMIN, token: randomBytes(24).toString('hex'), groups: ['system:masters'] },
      { name: UNPRIVILEGED, token: randomBytes(24).toString('hex'), groups: [] },
    ];
    const tokenFile = path.join(dirs.apiserver, 'tokens.csv');
    const saKeyFile = path.join(dirs.apiserver, 'sa.key');
    // Node's crypto is OpenSSL: the same RSA key `openssl genrsa 2048` makes, without a subprocess.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(saKeyFile, privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
    await writeFile(tokenFile, renderTokenFile(users), { mode: 0o600 });

    await waitUntil('etcd', etcd, 30_000, async () => {
      const r = await httpGet(`${etcdUrl}/health`);
      return r.status === 200 && r.body.includes('"health":"true"');
    });

    const apiServerUrl = `https://127.0.0.1:${apiPort}`;
    const certDir = path.join(dirs.apiserver, 'certs');
    const api = start('kube-apiserver', path.join(dirs.bin, 'kube-apiserver'), [
      `--etcd-servers=${etcdUrl}`,
      `--cert-dir=${certDir}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=RBAC',
      `--token-auth-file=${tokenFile}`,
      // No controller-manager creates default ServiceAccounts, so this plugin would block pods.
      '--disable-admission-plugins=ServiceAccount',
      `--service-account-issuer=${apiServerUrl}`,
      `--service-account-key-file=${saKeyFile}`,
      `--service-account-signing-key-file=${saKeyFile}`,
      '--allow-privileged=true',
      '--profiling=false',
      '--v=0',
    ]);

    const mongoWait = waitUntil('ferretdb', ferret, 30_000, async () => {
      await waitForPort(mongoPort, 200);
      return true;
    });
    const redisWait = waitUntil('redis', redis, 15_000, async () => {
      await waitForPort(redisPort, 200);
      return true;
    });

    // The apiserver writes a self-signed serving cert (followed by its CA) into --cert-dir.
    // Read on every probe: the first read may catch the file half-written.
    let caPem = '';
    const admin = users[0]!;
    await waitUntil('kube-apiserver', api, 120_000, async () => {
      caPem = await readFile(path.join(certDir, 'apiserver.crt'), 'utf8');
      const r = await httpGet(`${apiServerUrl}/readyz`, { ca: caPem, token: admin.token });
      return r.status === 200;
    });
    await Promise.all([mongoWait, redisWait]);

    const kubeconfig = path.join(rootDir, 'kubeconfig');
    await writeFile(kubeconfig, renderKubeconfig({ server: apiServerUrl, caPem, users }), { mode: 0o600 });

    // A rejected CRD is reported loudly but does not take the environment down: only the
    // suites that use that kind can fail because of it (the smoke suite names it).
    let crdErrors: { name: string; error: string }[] = [];
    if (opts.crdDir) {
      const crds = await applyCrds(kubeconfig, opts.crdDir);
      if (crds.established.length) log(`testenv: CRDs applied and Established: ${crds.established.join(', ')}`);
      for (const f of crds.failed) log(`testenv: WARNING: CRD ${f.name} from ${opts.crdDir} failed: ${f.error}`);
      crdErrors = crds.failed;
    }

    log(`testenv: servers ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (data and logs in ${rootDir})`);
    return {
      rootDir,
      kubeconfig,
      apiServerUrl,
      mongodbUrl: `mongodb://127.0.0.1:${mongoPort}/`,
      redisUrl: `redis://127.0.0.1:${redisPort}`,
      binDir: dirs.bin,
      versions: Object.fromEntries(COMPONENTS.map((c) => [c, bins[c].version])),
      contexts: { admin: contextName(ADMIN), unprivileged: contextName(UNPRIVILEGED) },
      processes: started.map(({ name, pid, binary, logFile }) => ({ name, pid, binary, logFile })),
      crdErrors,
      startedAt: new Date().toISOString(),
    };
  } catch (err) {
    // Leave the logs for diagnosis only when asked; otherwise clean up fully.
    await stopProcesses([...started].reverse());
    if (opts.keepOnFailure) log(`testenv: start-up failed; logs kept in ${rootDir}`);
    else await rm(rootDir, { recursive: true, force: true });
    throw err;
  }
}

/** Stop exactly the processes of this environment (newest first) and remove its temp dir. */
export async function stopTestEnv(state: TestEnvState): Promise<void> {
  await stopProcesses([...state.processes].reverse());
  // Only ever delete a temp dir this module created.
  if (path.basename(state.rootDir).startsWith('vf-testenv-')) await rm(state.rootDir, { recursive: true, force: true });
}

export interface ProcessStatus {
  name: string;
  pid: number;
  running: boolean;
}

export function processStatus(state: TestEnvState): ProcessStatus[] {
  return state.processes.map((p) => ({ name: p.name, pid: p.pid, running: isRunning(p) }));
}

/** True when every process of the environment still runs. */
export function isEnvRunning(state: TestEnvState): boolean {
  return processStatus(state).every((p) => p.running);
}

/** The shell lines `testenv up` prints for `eval "$(npm run -s testenv -- up)"`. */
export function exportLines(state: TestEnvState): string {
  return [
    `export KUBECONFIG=${state.kubeconfig} MONGODB_URL=${state.mongodbUrl} REDIS_URL=${state.redisUrl} VF_TESTENV_BIN=${state.binDir}`,
    `export PATH=${state.binDir}:$PATH`,
  ].join('\n');
}

/**
 * Symlink every cached binary into `binDir` under its component name, and the multi-call
 * `kubernetes` binary under each program name it answers to (it dispatches on its argv[0]).
 * With prebuilt programs (KUBEBUILDER_ASSETS) only those are linked, each under its own name.
 */
export async function linkBinaries(bins: Binaries, binDir: string): Promise<void> {
  const components = COMPONENTS.filter((c) => !(c === 'kubernetes' && bins.programs));
  await Promise.all(components.map((c) => symlink(bins[c].path, path.join(binDir, c))));
  await Promise.all(
    KUBERNETES_PROGRAMS.map((p) => {
      const target = programPath(bins, p);
      return target ? symlink(target, path.join(binDir, p)) : undefined;
    }),
  );
}

export async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Absolute path of `cmd` on a PATH-style search list. */
export async function findExecutable(cmd: string, searchPath: string): Promise<string> {
  for (const dir of searchPath.split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, cmd);
    try {
      await access(candidate, 1);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new Error(`${cmd} not found on PATH (Debian: apt-get install -y redis-server)`);
}
