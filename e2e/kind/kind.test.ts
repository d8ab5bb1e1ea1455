// e2e/kind/run.sh (the e2e/cluster suites on provider "kind") from the default test command: the
// full kind run where Docker, kind, kubectl and helm are available (skipped with the reason
// printed otherwise; VF_KIND_E2E=0 turns it off), and — everywhere — its refusal to start
// without its tools, with a clear message.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onPath, run } from '../deploy/support.js';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'run.sh');

/** A PATH holding only `dirname` and the given stub programs (shell scripts). */
async function fakePath(stubs: Record<string, string>): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-kind-path-'));
  const dirname = await onPath('dirname');
  if (dirname) await symlink(dirname, path.join(dir, 'dirname'));
  for (const [name, body] of Object.entries(stubs)) {
    await writeFile(path.join(dir, name), `#!/bin/sh\n${body}\n`);
    await chmod(path.join(dir, name), 0o755);
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const bash = (await onPath('bash')) ?? '/bin/bash';

describe('e2e/kind/run.sh without its tools', () => {
  it('exits 2 and names every missing tool', async () => {
    const p = await fakePath({});
    try {
      const r = await run(bash, [SCRIPT], { PATH: p.dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('cannot run here: missing docker kind kubectl helm');
    } finally {
      await p.cleanup();
    }
  });

  it('exits 2 when the docker CLI is there but no engine answers', async () => {
    // `docker info` fails as it does on a machine without a Docker daemon; the other tools are
    // never reached (they would fail the test by writing to stdout).
    const never = 'echo "must not be called: $0 $*"; exit 99';
    const p = await fakePath({ docker: '[ "$1" = info ] && exit 1; exit 99', kind: never, kubectl: never, helm: never });
    try {
      const r = await run(bash, [SCRIPT], { PATH: p.dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('no Docker engine answers');
      expect(r.stdout).not.toContain('must not be called');
    } finally {
      await p.cleanup();
    }
  });
});

async function kindSkipReason(): Promise<string | undefined> {
  if (process.env.VF_KIND_E2E === '0') return 'VF_KIND_E2E=0';
  const missing = [];
  for (const tool of ['docker', 'kind', 'kubectl', 'helm']) if (!(await onPath(tool))) missing.push(tool);
  if (missing.length) return `needs Docker, kind, kubectl and helm; missing on PATH: ${missing.join(', ')}`;
  const engine = await new Promise<boolean>((resolve) => execFile('docker', ['info'], { timeout: 10_000 }, (err) => resolve(!err)));
  if (!engine) return 'no Docker engine answers (docker info failed)';
  return undefined;
}

const skip = await kindSkipReason();
if (skip) console.warn(`e2e/kind/kind.test.ts: the kind end-to-end run is skipped — ${skip}`);

(skip ? describe.skip : describe)('e2e/kind/run.sh on a real kind cluster', () => {
  it('passes the e2e/cluster suites (smoke and chart) on kind', async () => {
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      const child = execFile(bash, [SCRIPT], { timeout: 40 * 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
      child.stdout?.pipe(process.stdout);
    });
    expect(r.out).toMatch(/e2e:cluster \[kind\] passed/);
    expect(r.code).toBe(0);
  }, 41 * 60_000);
});
