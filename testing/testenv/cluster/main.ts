// `npm run cluster -- up|down|status|load` (launched through cluster/run.mjs): one real
// Kubernetes node on this machine (see node.ts). Needs root, containerd, runc, the CNI plugins
// and buildah (Debian packages); builds the binaries and images it misses first.
//   up      build what is missing, start the node, load the images, wait until the node is
//           Ready and DNS answers; print export lines (eval "$(npm run -s cluster -- up)")
//   down    stop every process by PID and remove everything the cluster added to the machine
//   status  which processes run; exit 1 if any does not
//   load    (re)import the image archives (after `npm run images`) into the node's containerd
import { spawn } from 'node:child_process';
import { readFile, rename, rm, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBinaries } from '../binaries.js';
import { clusterProcesses, importImages, startCluster, stopCluster, type ClusterState } from './node.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '..', '..', '..');
const STATE_FILE = process.env.VF_CLUSTER_STATE ?? path.join(REPO_ROOT, '.testenv', 'cluster.json');
const IMAGES_SCRIPT = path.join(HERE, '..', 'images.sh');
const log = (m: string) => console.error(m);

export async function main(argv: string[]): Promise<number> {
  switch (argv[0]) {
    case 'up':
      return up();
    case 'down':
      return down();
    case 'status':
      return status();
    case 'load':
      return load();
    default:
      log('usage: npm run cluster -- up|down|status|load');
      return 2;
  }
}

export async function readClusterState(file = STATE_FILE): Promise<ClusterState | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as ClusterState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`unreadable cluster state file ${file}: ${(err as Error).message}`);
  }
}

async function saveState(state: ClusterState): Promise<void> {
  await mkdir(path.dirname(STATE_FILE), { recursive: true });
  const tmp = `${STATE_FILE}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, STATE_FILE);
}

export function clusterExports(state: ClusterState): string {
  return [`export KUBECONFIG=${state.kubeconfig} VF_CLUSTER_BIN=${state.binDir}`, `export PATH=${state.binDir}:$PATH`].join('\n');
}

const isUp = (s: ClusterState) => s.processes.length > 0 && clusterProcesses(s).every((p) => p.running);

interface ImageInfo {
  name: string;
  ref: string;
  archive: string;
  present: boolean;
}

/** `images.sh list`, and `images.sh build` for what is missing (progress on stderr). */
async function ensureImages(): Promise<ImageInfo[]> {
  const list = async () =>
    (await capture('bash', [IMAGES_SCRIPT, 'list']))
      .trim()
      .split('\n')
      .map((l) => l.split('\t'))
      .map(([name, ref, archive, state]) => ({ name: name!, ref: ref!, archive: archive!, present: state === 'present' }));
  const missing = (await list()).filter((i) => !i.present).map((i) => i.name);
  if (missing.length) {
    log(`cluster: building images: ${missing.join(', ')}`);
    await capture('bash', [IMAGES_SCRIPT, 'build', ...missing], true);
  }
  const after = await list();
  const still = after.filter((i) => !i.present);
  if (still.length) throw new Error(`images still missing after build: ${still.map((i) => i.name).join(', ')}`);
  return after.filter((i) => i.name !== 'debian' && i.name !== 'node');
}

async function up(): Promise<number> {
  const existing = await readClusterState();
  if (existing && isUp(existing)) {
    log(`cluster: already running since ${existing.startedAt} (${existing.rootDir}); \`npm run cluster -- down\` stops it`);
    console.log(clusterExports(existing));
    return 0;
  }
  if (existing) {
    log('cluster: a previous cluster is partly gone; removing what is left of it');
    await stopCluster(existing, log);
    await rm(STATE_FILE, { force: true });
  }
  if (process.getuid?.() !== 0) throw new Error('the one-node cluster needs root (network namespaces, iptables, mounts)');
  const binaries = await ensureBinaries(log);
  const images = await ensureImages();
  const pause = images.find((i) => i.name === 'pause')!;
  const state = await startCluster({ binaries, saveState, removeState: () => rm(STATE_FILE, { force: true }), imageArchives: images.map((i) => i.archive), pauseImage: pause.ref, log });
  console.log(clusterExports(state));
  return 0;
}

async function down(): Promise<number> {
  const state = await readClusterState();
  if (!state) {
    log(`cluster: nothing to stop (no ${STATE_FILE})`);
    return 0;
  }
  const t = Date.now();
  const problems = await stopCluster(state, log);
  for (const p of problems) log(`cluster: ${p}`);
  if (problems.length) {
    log(`cluster: down left ${problems.length} problem(s); the state file stays so that \`down\` can be run again`);
    return 1;
  }
  await rm(STATE_FILE, { force: true });
  log(`cluster: down in ${((Date.now() - t) / 1000).toFixed(1)} s; nothing left behind (processes, mounts, netns, links, iptables chains, cgroups, ${state.rootDir})`);
  return 0;
}

async function status(): Promise<number> {
  const state = await readClusterState();
  if (!state) {
    log('cluster: not running');
    return 1;
  }
  for (const p of clusterProcesses(state)) log(`cluster: ${p.name.padEnd(24)} pid ${String(p.pid).padEnd(8)} ${p.running ? 'running' : 'NOT running'}`);
  const ok = isUp(state);
  if (ok) console.log(clusterExports(state));
  return ok ? 0 : 1;
}

async function load(): Promise<number> {
  const state = await readClusterState();
  if (!state || !isUp(state)) {
    log('cluster: not running (`npm run cluster -- up` loads the images itself)');
    return 1;
  }
  const images = await ensureImages();
  state.images = await importImages(state.containerdSocket, images.map((i) => i.archive), log);
  await saveState(state);
  return 0;
}

function capture(cmd: string, args: string[], progressToStderr = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', progressToStderr ? 2 : 'pipe', 'inherit'] });
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} failed (exit ${code})`))));
  });
}
