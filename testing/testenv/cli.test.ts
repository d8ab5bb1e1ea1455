// `testenv up|status|down` as a user runs them: a detached environment that outlives the
// command, a second `up` that reuses it, and a `down` that stops exactly its processes.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestEnvState } from './env.js';
import { isRunning } from './processes.js';

const exec = promisify(execFile);
const RUN = path.join(import.meta.dirname, 'run.mjs');

describe('testenv CLI', () => {
  let dir: string;
  let stateFile: string;
  const cli = (...args: string[]) =>
    exec(process.execPath, [RUN, ...args], { env: { ...process.env, VF_TESTENV_STATE: stateFile }, timeout: 120_000 });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vf-cli-test-'));
    stateFile = path.join(dir, 'state.json');
  });
  afterAll(async () => {
    // Never leave servers behind, even when an assertion failed half-way.
    await cli('down').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('up starts detached servers and prints eval-able exports; a second up reuses them; down stops them', async () => {
    const up = await cli('up');
    expect(up.stdout).toMatch(/^export KUBECONFIG=\S+ MONGODB_URL=mongodb:\/\/127\.0\.0\.1:\d+\/ REDIS_URL=redis:\/\/127\.0\.0\.1:\d+ VF_TESTENV_BIN=\S+\nexport PATH=\S+:\$PATH\n$/);
    const state = JSON.parse(await readFile(stateFile, 'utf8')) as TestEnvState;
    expect(state.processes.map((p) => p.name).sort()).toEqual(['etcd', 'ferretdb', 'kube-apiserver', 'redis']);
    // The command has exited; the servers still run.
    expect(state.processes.every((p) => isRunning(p))).toBe(true);
    expect(existsSync(state.kubeconfig)).toBe(true);

    const again = await cli('up');
    expect(again.stderr).toContain('already running');
    expect(again.stdout).toBe(up.stdout);
    expect(JSON.parse(await readFile(stateFile, 'utf8'))).toEqual(state);

    await expect(cli('status')).resolves.toMatchObject({ stdout: up.stdout });

    await cli('down');
    expect(state.processes.filter((p) => isRunning(p))).toEqual([]);
    expect(existsSync(state.rootDir)).toBe(false);
    expect(existsSync(stateFile)).toBe(false);
    await expect(cli('status')).rejects.toMatchObject({ code: 1 });
  });
});
