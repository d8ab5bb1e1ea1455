// Shared pieces of the suites that run on a real cluster (e2e/cluster/run.sh hands it over
// through KUBECONFIG and VF_CLUSTER_BIN, whichever provider made it): kubectl and helm from
// that folder, a namespace per suite, polling with a deadline, and a dump of a namespace's
// state for failure messages.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Two levels up from e2e/cluster/, also when compiled to dist/e2e/cluster/ (bench:cluster).
const twoUp = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REPO_ROOT = path.basename(twoUp) === 'dist' ? path.dirname(twoUp) : twoUp;

export interface ClusterEnv {
  kubeconfig: string;
  bin: string;
  /** The product image as the cluster knows it (loaded by the provider). */
  image: { repository: string; tag: string };
}

export function clusterEnv(): ClusterEnv {
  const { KUBECONFIG: kubeconfig, VF_CLUSTER_BIN: bin, VF_CLUSTER_IMAGE: image } = process.env;
  if (!kubeconfig || !bin) {
    throw new Error('KUBECONFIG and VF_CLUSTER_BIN are not set: run these suites through `npm run e2e:cluster`, which brings up the cluster');
  }
  const ref = image ?? 'localhost/vendorfetch:dev';
  const at = ref.lastIndexOf(':');
  return { kubeconfig, bin, image: { repository: ref.slice(0, at), tag: ref.slice(at + 1) } };
}

/**
 * `--set` values for installing the chart on the test cluster: this build's image, the dev stores
 * and the mocks. On the local node (no registry) the dev stores are the images images.sh built:
 * Debian's redis-server, and FerretDB as the MongoDB-wire store (run.sh exports their names).
 */
export function chartValues(extra: string[] = []): string[] {
  const env = clusterEnv();
  const set = [
    `image.repository=${env.image.repository}`,
    `image.tag=${env.image.tag}`,
    'image.pullPolicy=Never',
    'dev.redis.enabled=true',
    'dev.mongodb.enabled=true',
    'mocks.enabled=true',
    'controller.lagPollMs=2000',
  ];
  const { VF_CLUSTER_REDIS_IMAGE: redis, VF_CLUSTER_MONGO_IMAGE: mongo } = process.env;
  if (redis) set.push(`dev.redis.image=${redis}`, 'dev.redis.pullPolicy=Never');
  const strings: string[] = [];
  if (mongo) {
    set.push(`dev.mongodb.image=${mongo}`, 'dev.mongodb.pullPolicy=Never');
    set.push('dev.mongodb.command={/usr/local/bin/ferretdb,--listen-addr,0.0.0.0:27017,--sqlite-dir,/data/db}');
    // FerretDB v1 on SQLite under this node's load lands some writes after the client gave up
    // on them (a 503, a hand-back that timed out); a job can then sit pending with no queue
    // entry until the sweeper's pending timeout re-queues it — 10 min by default, past every
    // step's wait. The safety net is the product's; only its period is shortened here.
    for (const who of ['api', 'workers']) strings.push(`${who}.extraEnv[0].name=VF_PENDING_TIMEOUT_SECONDS`, `${who}.extraEnv[0].value=120`);
    // The sweeper's overdue query is one the dev store can only answer by scanning every job
    // (docs/adr/0003): every 2 s per pool it took a large share of FerretDB's one busy core.
    // Every 10 s still re-queues a stranded job long before the 120 s above matters.
    strings.push('workers.extraEnv[1].name=VF_SWEEP_INTERVAL_MS', 'workers.extraEnv[1].value=10000');
  }
  return [...[...set, ...extra].flatMap((s) => ['--set', s]), ...strings.flatMap((s) => ['--set-string', s])];
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], opts: { stdin?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { env: { ...process.env, ...opts.env }, maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
  });
}

/** kubectl; throws with its stderr when it fails. */
export async function kubectl(args: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<string> {
  const env = clusterEnv();
  const r = await exec(path.join(env.bin, 'kubectl'), [`--kubeconfig=${env.kubeconfig}`, ...args], opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** kubectl that reports instead of throwing. */
export function kubectlResult(args: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<Result> {
  const env = clusterEnv();
  return exec(path.join(env.bin, 'kubectl'), [`--kubeconfig=${env.kubeconfig}`, ...args], opts);
}

export async function apply(objects: object[], namespace?: string): Promise<void> {
  await kubectl([...(namespace ? ['-n', namespace] : []), 'apply', '-f', '-'], { stdin: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
}

export async function getJson<T = any>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kubectl(['create', 'namespace', name]);
  return name;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `probe` until it returns a value other than undefined/false. On timeout, throw with what
 * was waited for, the last probe error and (when given) the namespace's state.
 */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>, namespace?: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      // A probe that found the outcome already decided (a failed job) ends the wait at once.
      if ((err as { fatal?: boolean }).fatal) throw err;
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      const dump = namespace ? `\n--- state of namespace ${namespace} ---\n${await dumpNamespace(namespace)}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}${dump}`);
    }
    await sleep(500);
  }
}

/** Pods, events and recent logs of a namespace, for failure messages. */
export async function dumpNamespace(namespace: string): Promise<string> {
  const parts: string[] = [];
  for (const args of [
    ['get', 'all,vendorpools,leases,pdb', '-o', 'wide'],
    ['get', 'events', '--sort-by=.lastTimestamp'],
  ]) {
    const r = await kubectlResult(['-n', namespace, ...args]);
    parts.push(`$ kubectl ${args.join(' ')}\n${r.stdout}${r.stderr}`);
  }
  const pods = await kubectlResult(['-n', namespace, 'get', 'pods', '-o', 'jsonpath={.items[*].metadata.name}']);
  for (const pod of pods.stdout.split(' ').filter(Boolean).slice(0, 12)) {
    const r = await kubectlResult(['-n', namespace, 'logs', pod, '--all-containers', '--tail=20']);
    parts.push(`$ kubectl logs ${pod} --tail=20\n${r.stdout}${r.stderr}`);
  }
  return parts.join('\n');
}

/** Wrap a test body so that a failure carries the namespace's state. */
export async function withDump<T>(namespace: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    (err as Error).message += `\n--- state of namespace ${namespace} ---\n${await dumpNamespace(namespace)}`;
    throw err;
  }
}
