// KUBEBUILDER_ASSETS: `testenv up` runs the prebuilt kube-apiserver and etcd of a setup-envtest
// folder instead of building them. The binary cache here holds every component except etcd
// and kubernetes, and Go is off PATH, so any attempt to build them fails the command: only
// the assets can make it start.
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeClient } from '../../controller/kube.js';
import { COMPONENTS, resolveBinaries } from './binaries.js';
import type { TestEnvState } from './env.js';
import { kubebuilderAssets } from './kubebuilder-assets.js';

const exec = promisify(execFile);
const RUN = path.join(import.meta.dirname, 'run.mjs');

describe('kubebuilderAssets', () => {
  it('is off when KUBEBUILDER_ASSETS is unset or empty', () => {
    expect(kubebuilderAssets({})).toBeUndefined();
    expect(kubebuilderAssets({ KUBEBUILDER_ASSETS: '' })).toBeUndefined();
  });

  it('refuses a folder without the setup-envtest layout instead of quietly building', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-kb-partial-'));
    try {
      await writeFile(path.join(dir, 'etcd'), '#!/bin/sh\n');
      await chmod(path.join(dir, 'etcd'), 0o755);
      expect(() => kubebuilderAssets({ KUBEBUILDER_ASSETS: dir })).toThrow(/no executable kube-apiserver, kubectl/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('testenv up with KUBEBUILDER_ASSETS', () => {
  let dir: string;
  let assets: string;
  let cache: string;
  const stateFile = () => path.join(dir, 'state.json');
  // PATH without Go: a build attempt fails at once ("the Go toolchain ... is not on PATH").
  const noGoPath = (process.env.PATH ?? '').split(path.delimiter).filter((d) => !existsSync(path.join(d, 'go'))).join(path.delimiter);
  const cli = (env: Record<string, string>, ...args: string[]) =>
    exec(process.execPath, [RUN, ...args], {
      env: { ...process.env, KUBEBUILDER_ASSETS: '', ...env, VF_TESTENV_STATE: stateFile(), VF_TESTENV_CACHE: cache, PATH: noGoPath },
      timeout: 120_000,
    });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vf-kb-assets-'));
    assets = path.join(dir, 'assets');
    cache = path.join(dir, 'cache');
    await Promise.all([mkdir(assets), mkdir(cache)]);
    // The real builds (jest's setup made them): the assets folder in setup-envtest's layout, and
    // a cache of everything else.
    const real = await resolveBinaries();
    for (const c of COMPONENTS) expect(real[c].present).toBe(true);
    await symlink(real.etcd.path, path.join(assets, 'etcd'));
    await symlink(real.kubernetes.path, path.join(assets, 'kube-apiserver'));
    await symlink(real.kubernetes.path, path.join(assets, 'kubectl'));
    for (const c of COMPONENTS.filter((c) => c !== 'etcd' && c !== 'kubernetes')) {
      await symlink(path.dirname(real[c].path), path.join(cache, path.basename(path.dirname(real[c].path))));
    }
  });
  afterAll(async () => {
    await cli({}, 'down').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('without the assets, up must build etcd and fails here (no Go): the check below can fail', async () => {
    await expect(cli({}, 'up')).rejects.toMatchObject({ stderr: expect.stringMatching(/etcd .*is not built and the Go toolchain/) });
  });

  it('with the assets, up runs their kube-apiserver and etcd; nothing is built', async () => {
    const up = await cli({ KUBEBUILDER_ASSETS: assets }, 'up');
    expect(up.stderr).not.toMatch(/building/);
    const state = JSON.parse(await readFile(stateFile(), 'utf8')) as TestEnvState;
    expect(state.processes.map((p) => p.name).sort()).toEqual(['etcd', 'ferretdb', 'kube-apiserver', 'redis']);
    expect(await readlink(path.join(state.binDir, 'kube-apiserver'))).toBe(path.join(assets, 'kube-apiserver'));
    expect(await readlink(path.join(state.binDir, 'etcd'))).toBe(path.join(assets, 'etcd'));
    expect(await readlink(path.join(state.binDir, 'kubectl'))).toBe(path.join(assets, 'kubectl'));
    // Programs setup-envtest does not ship are not pretended.
    expect(existsSync(path.join(state.binDir, 'kubelet'))).toBe(false);
    // Versions are what the prebuilt binaries report.
    expect(state.versions.kubernetes).toMatch(/^v1\.\d+\.\d+/);
    expect(state.versions.etcd).toMatch(/^v3\.\d+\.\d+/);

    const kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfig);
    const version = await createKubeClient(kc).request<{ gitVersion: string }>({ method: 'GET', path: '/version' });
    expect(version.gitVersion).toBe(state.versions.kubernetes);
    // The cache got no etcd or kubernetes binary (the failed attempt above left only its lock dir).
    const built = (await readdir(cache)).filter((d) => /^(etcd|kubernetes)-/.test(d) && existsSync(path.join(cache, d, d.split('-')[0]!)));
    expect(built).toEqual([]);

    await cli({}, 'down');
    expect(existsSync(state.rootDir)).toBe(false);
  });
});
