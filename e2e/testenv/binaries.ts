// Where the built test servers live, and building them when they are missing. build.sh is the
// one place that knows versions, cache paths and build flags; this module only asks it.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const COMPONENTS = ['etcd', 'kubernetes', 'ferretdb', 'helm', 'coredns', 'pause'] as const;
/** The programs of the multi-call `kubernetes` binary (go/kubernetes/main.go). */
export const KUBERNETES_PROGRAMS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'kubelet', 'kubectl'] as const;
export type Component = (typeof COMPONENTS)[number];

export interface BinaryInfo {
  name: Component;
  version: string;
  path: string;
  present: boolean;
}

export type Binaries = Record<Component, BinaryInfo>;

const BUILD_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'build.sh');

/** stdout 'capture' returns it; 'stderr' sends progress to stderr (keeps `up`'s stdout eval-able). */
function runBuildScript(args: string[], stdout: 'capture' | 'stderr'): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT, ...args], {
      stdio: ['ignore', stdout === 'capture' ? 'pipe' : 2, 'inherit'],
    });
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve(out) : reject(new Error(`build.sh ${args.join(' ')} failed (${signal ?? `exit ${code}`})`)),
    );
  });
}

/** Parse `build.sh paths` output (name, version, path, present|missing per line). */
export function parsePaths(text: string): Binaries {
  const found = new Map<string, BinaryInfo>();
  for (const line of text.split('\n')) {
    const [name, version, file, state] = line.split('\t');
    if (!name || !version || !file || !state) continue;
    found.set(name, { name: name as Component, version, path: file, present: state === 'present' });
  }
  const result = {} as Binaries;
  for (const c of COMPONENTS) {
    const info = found.get(c);
    if (!info) throw new Error(`build.sh paths did not report ${c}`);
    result[c] = info;
  }
  return result;
}

export async function resolveBinaries(): Promise<Binaries> {
  return parsePaths(await runBuildScript(['paths'], 'capture'));
}

/**
 * Build whatever is missing (progress goes to this process's stdout/stderr; cold builds take
 * minutes) and return the binaries. Cached ones cost one `build.sh paths` call.
 */
export async function ensureBinaries(log: (msg: string) => void = console.error): Promise<Binaries> {
  const before = await resolveBinaries();
  const missing = COMPONENTS.filter((c) => !before[c].present);
  if (missing.length === 0) return before;
  log(`testenv: building missing test servers: ${missing.join(', ')}`);
  await runBuildScript(['build', ...missing], 'stderr');
  const after = await resolveBinaries();
  const still = COMPONENTS.filter((c) => !after[c].present);
  if (still.length) throw new Error(`testenv: still missing after build: ${still.join(', ')}`);
  return after;
}

/** Build everything that is missing, printing progress (the `build` command). */
export async function buildAll(): Promise<void> {
  await runBuildScript(['build'], 'stderr');
}
