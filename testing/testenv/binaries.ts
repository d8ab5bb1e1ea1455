// Where the built test servers live, and building them when they are missing. build.sh is the
// one place that knows versions, cache paths and build flags; this module only asks it.
// Prebuilt kube-apiserver, etcd and kubectl laid out as setup-envtest does ($KUBEBUILDER_ASSETS)
// replace the `etcd` and `kubernetes` builds for the API-server test environment
// (kubebuilder-assets.ts); the one-node cluster still needs the full `kubernetes` build.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const COMPONENTS = ['etcd', 'kubernetes', 'ferretdb', 'helm', 'coredns', 'pause', 'actionlint', 'promtool'] as const;
/** The programs of the multi-call `kubernetes` binary (go/kubernetes/main.go). */
export const KUBERNETES_PROGRAMS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'kubelet', 'kubectl'] as const;
export type Component = (typeof COMPONENTS)[number];
export type KubernetesProgram = (typeof KUBERNETES_PROGRAMS)[number];

export interface BinaryInfo {
  name: Component;
  version: string;
  path: string;
  present: boolean;
}

export type Binaries = Record<Component, BinaryInfo> & {
  /** Kubernetes programs taken from prebuilt binaries instead of the multi-call build. */
  programs?: Partial<Record<KubernetesProgram, string>>;
};

/**
 * Where a Kubernetes program runs from: with prebuilt programs, only those exist; else the
 * multi-call build answers to every program name.
 */
export function programPath(bins: Binaries, program: KubernetesProgram): string | undefined {
  return bins.programs ? bins.programs[program] : bins.kubernetes.path;
}

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

/** Prebuilt binaries that stand in for some components (see kubebuilder-assets.ts). */
export interface Prebuilt {
  /** Replacements for whole components, already present. */
  components: Partial<Record<Component, BinaryInfo>>;
  programs: Partial<Record<KubernetesProgram, string>>;
}

/** The cached builds with the prebuilt ones put in their place. */
export function withPrebuilt(bins: Binaries, prebuilt: Prebuilt | undefined): Binaries {
  if (!prebuilt) return bins;
  return { ...bins, ...prebuilt.components, programs: prebuilt.programs };
}

/**
 * Build whatever is missing and not prebuilt (progress goes to this process's stdout/stderr;
 * cold builds take minutes) and return the binaries. Cached ones cost one `build.sh paths` call.
 */
export async function ensureBinaries(log: (msg: string) => void = console.error, prebuilt?: Prebuilt): Promise<Binaries> {
  const before = withPrebuilt(await resolveBinaries(), prebuilt);
  const missing = COMPONENTS.filter((c) => !before[c].present);
  if (missing.length === 0) return before;
  log(`testenv: building missing test servers: ${missing.join(', ')}`);
  await runBuildScript(['build', ...missing], 'stderr');
  const after = withPrebuilt(await resolveBinaries(), prebuilt);
  const still = COMPONENTS.filter((c) => !after[c].present);
  if (still.length) throw new Error(`testenv: still missing after build: ${still.join(', ')}`);
  return after;
}

/** Build everything that is missing, printing progress (the `build` command). */
export async function buildAll(): Promise<void> {
  await runBuildScript(['build'], 'stderr');
}
