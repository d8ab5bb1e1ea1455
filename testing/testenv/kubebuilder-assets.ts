// Prebuilt kube-apiserver, etcd and kubectl from $KUBEBUILDER_ASSETS, the layout setup-envtest
// (controller-runtime) leaves: <dir>/{kube-apiserver,etcd,kubectl}. Where a developer or a CI
// image already has them, the test environment uses them and skips the two slowest builds
// (kubernetes ~15 min and etcd ~1 min cold). Only the API-server environment (`testenv up`,
// jest) uses them: the one-node cluster needs the kubelet and the rest, which setup-envtest
// does not ship.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { Prebuilt } from './binaries.js';

export const ASSET_PROGRAMS = ['kube-apiserver', 'etcd', 'kubectl'] as const;

/** The first line of `<binary> --version`, for the environment's reported versions. */
function reportedVersion(binary: string, pattern: RegExp): string {
  try {
    const out = execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
    return out.match(pattern)?.[1] ?? 'unknown';
  } catch (err) {
    throw new Error(`KUBEBUILDER_ASSETS: ${binary} --version failed: ${(err as Error).message}`);
  }
}

/**
 * The prebuilt binaries named by KUBEBUILDER_ASSETS, or undefined when it is unset or empty.
 * A set variable whose folder lacks one of the three programs is an error, not a silent
 * 15-minute build: the user meant to use it.
 */
export function kubebuilderAssets(env: NodeJS.ProcessEnv = process.env): Prebuilt | undefined {
  const dir = env.KUBEBUILDER_ASSETS;
  if (!dir) return undefined;
  const file = (name: string) => path.join(path.resolve(dir), name);
  const missing = ASSET_PROGRAMS.filter((p) => {
    try {
      accessSync(file(p), constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) {
    throw new Error(`KUBEBUILDER_ASSETS=${dir} has no executable ${missing.join(', ')} (expected the setup-envtest layout: kube-apiserver, etcd, kubectl)`);
  }
  const apiserver = file('kube-apiserver');
  const etcd = file('etcd');
  return {
    components: {
      etcd: { name: 'etcd', version: `v${reportedVersion(etcd, /etcd Version: (\S+)/)}`, path: etcd, present: true },
      kubernetes: { name: 'kubernetes', version: reportedVersion(apiserver, /Kubernetes (\S+)/), path: apiserver, present: true },
    },
    programs: { 'kube-apiserver': apiserver, kubectl: file('kubectl') },
  };
}
