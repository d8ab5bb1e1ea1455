// Jest globalSetup/globalTeardown (loaded through jest-global-setup.mjs / -teardown.mjs): start
// one test environment for the whole run and hand its addresses to the suites through
// process.env — KUBECONFIG, MONGODB_URL, REDIS_URL, VF_TESTENV_BIN — then stop it at the end.
//
// An environment from `testenv up` is reused when VF_TESTENV_BIN, KUBECONFIG, MONGODB_URL and
// REDIS_URL are all set and answer (VF_TESTENV_BIN is required so that a developer's own
// KUBECONFIG never gets test namespaces). VF_TESTENV=off starts nothing (suites needing the
// servers then fail with a clear message).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { waitForPort } from '../ports.js';
import { ensureBinaries } from './binaries.js';
import { kubebuilderAssets } from './kubebuilder-assets.js';
import { findExecutable, startTestEnv, stopTestEnv, type TestEnvState } from './env.js';
import { httpGet } from './http.js';
import { isRunning } from './processes.js';
import { readState, removeState, writeState } from './state.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const STATE_DIR = path.join(REPO_ROOT, '.testenv');
const ownStateFile = path.join(STATE_DIR, `jest-${process.pid}.json`);
const log = (msg: string) => console.log(msg);

let owned: TestEnvState | undefined;

export async function globalSetup(): Promise<void> {
  const env = process.env;
  if (env.VF_TESTENV === 'off') {
    log('testenv: VF_TESTENV=off, not starting kube-apiserver/FerretDB/redis for this run');
    return;
  }
  if (env.VF_TESTENV_BIN && env.KUBECONFIG && env.MONGODB_URL && env.REDIS_URL) {
    if (await answers(env.KUBECONFIG, env.MONGODB_URL, env.REDIS_URL)) {
      log(`testenv: using the running environment (KUBECONFIG=${env.KUBECONFIG})`);
      return;
    }
    log('testenv: the environment named by KUBECONFIG/MONGODB_URL/REDIS_URL does not answer; starting a new one');
  }
  await stopLeftovers();
  log('\ntestenv: starting etcd, kube-apiserver, FerretDB and redis-server for this test run');
  const binaries = await ensureBinaries(log, kubebuilderAssets());
  owned = await startTestEnv({
    binaries,
    detached: false,
    crdDir: path.join(REPO_ROOT, 'crds'),
    redisServer: await findExecutable('redis-server', env.PATH ?? ''),
    log,
  });
  await writeState(ownStateFile, owned);
  env.KUBECONFIG = owned.kubeconfig;
  env.MONGODB_URL = owned.mongodbUrl;
  env.REDIS_URL = owned.redisUrl;
  env.VF_TESTENV_BIN = owned.binDir;
}

export async function globalTeardown(): Promise<void> {
  if (!owned) return;
  const state = owned;
  owned = undefined;
  await stopTestEnv(state);
  await removeState(ownStateFile);
}

/** Stop environments of earlier test runs that died before their teardown (kill -9, OOM). */
async function stopLeftovers(): Promise<void> {
  let files: string[];
  try {
    files = (await readdir(STATE_DIR)).filter((f) => /^jest-\d+\.json$/.test(f));
  } catch {
    return;
  }
  for (const f of files) {
    const ownerPid = Number(f.slice(5, -5));
    if (ownerPid !== process.pid && pidAlive(ownerPid)) continue;
    const file = path.join(STATE_DIR, f);
    const state = await readState(file);
    if (state) {
      const alive = state.processes.filter((p) => isRunning(p));
      if (alive.length) log(`testenv: stopping ${alive.length} server(s) left by test run ${ownerPid}`);
      await stopTestEnv(state);
    }
    await removeState(file);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function answers(kubeconfigPath: string, mongodbUrl: string, redisUrl: string): Promise<boolean> {
  try {
    const kc = parse(await readFile(kubeconfigPath, 'utf8')) as {
      clusters?: { cluster?: { server?: string; 'certificate-authority-data'?: string } }[];
    };
    const cluster = kc.clusters?.[0]?.cluster;
    if (!cluster?.server) return false;
    const ca = cluster['certificate-authority-data'];
    const r = await httpGet(`${cluster.server}/livez`, { ca: ca ? Buffer.from(ca, 'base64').toString() : undefined });
    if (r.status !== 200) return false;
    for (const u of [mongodbUrl, redisUrl]) {
      const url = new URL(u);
      await waitForPort(Number(url.port), 1_000, url.hostname);
    }
    return true;
  } catch {
    return false;
  }
}
