// `npm run testenv -- build|up|down|status` (launched through run.mjs).
//   build   build the missing test-server binaries (cached by version; minutes when cold)
//   up      start etcd, kube-apiserver, FerretDB and redis-server, detached; print export lines
//           on stdout, so `eval "$(npm run -s testenv -- up)"` configures the shell
//   down    stop exactly the processes `up` started and remove their temp dir
//   status  show whether they run; exit 1 if not
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAll, ensureBinaries } from './binaries.js';
import { kubebuilderAssets } from './kubebuilder-assets.js';
import { exportLines, findExecutable, isEnvRunning, processStatus, startTestEnv, stopTestEnv } from './env.js';
import { readState, removeState, writeState } from './state.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// VF_TESTENV_STATE lets a second, separate environment run from the same checkout.
const STATE_FILE = process.env.VF_TESTENV_STATE ?? path.join(REPO_ROOT, '.testenv', 'state.json');
const CRD_DIR = path.join(REPO_ROOT, 'crds');
const log = (msg: string) => console.error(msg);

export async function main(argv: string[]): Promise<number> {
  const cmd = argv[0];
  switch (cmd) {
    case 'build':
      await buildAll();
      return 0;
    case 'up':
      return up();
    case 'down':
      return down();
    case 'status':
      return status();
    default:
      log('usage: npm run testenv -- build|up|down|status');
      return 2;
  }
}

async function up(): Promise<number> {
  const existing = await readState(STATE_FILE);
  if (existing && isEnvRunning(existing)) {
    log(`testenv: already running since ${existing.startedAt} (${existing.rootDir}); \`npm run testenv -- down\` stops it`);
    console.log(exportLines(existing));
    return 0;
  }
  if (existing) {
    log('testenv: a previous environment is partly gone; stopping what is left of it');
    await stopTestEnv(existing);
    await removeState(STATE_FILE);
  }
  const binaries = await ensureBinaries(log, kubebuilderAssets());
  const state = await startTestEnv({
    binaries,
    detached: true,
    crdDir: CRD_DIR,
    redisServer: await findExecutable('redis-server', process.env.PATH ?? ''),
    keepOnFailure: process.env.VF_TESTENV_KEEP_FAILED === '1',
    log,
  });
  await writeState(STATE_FILE, state);
  log(`testenv: up (${state.processes.map((p) => `${p.name} ${p.pid}`).join(', ')}); Kubernetes ${state.versions.kubernetes} at ${state.apiServerUrl}`);
  console.log(exportLines(state));
  return 0;
}

async function down(): Promise<number> {
  const state = await readState(STATE_FILE);
  if (!state) {
    log(`testenv: nothing to stop (no ${STATE_FILE})`);
    return 0;
  }
  await stopTestEnv(state);
  await removeState(STATE_FILE);
  log(`testenv: stopped ${state.processes.map((p) => `${p.name} ${p.pid}`).join(', ')}; removed ${state.rootDir}`);
  return 0;
}

async function status(): Promise<number> {
  const state = await readState(STATE_FILE);
  if (!state) {
    log('testenv: not running');
    return 1;
  }
  for (const c of state.crdErrors ?? []) log(`testenv: CRD ${c.name} FAILED at start-up: ${c.error}`);
  for (const p of processStatus(state)) log(`testenv: ${p.name.padEnd(15)} pid ${String(p.pid).padEnd(8)} ${p.running ? 'running' : 'NOT running'}`);
  const ok = isEnvRunning(state);
  if (ok) console.log(exportLines(state));
  return ok ? 0 : 1;
}
