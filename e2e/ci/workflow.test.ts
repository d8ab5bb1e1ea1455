// The GitHub Actions workflow: actionlint (built by testing/testenv/build.sh, on VF_TESTENV_BIN)
// finds nothing in it, and it runs .ci/run with the npm cache and the test-server binaries
// cached. A broken workflow shows the linter really reads what it is given.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';

const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
const WORKFLOW = path.join(REPO_ROOT, '.github', 'workflows', 'ci.yml');

/** actionlint's findings (exit code and output). shellcheck/pyflakes off: same result on every machine. */
function actionlint(cwd: string, file: string): Promise<{ code: number; out: string }> {
  const bin = path.join(process.env.VF_TESTENV_BIN ?? '', 'actionlint');
  return new Promise((resolve) => {
    execFile(bin, ['-no-color', '-shellcheck=', '-pyflakes=', file], { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, out: stdout + stderr });
    });
  });
}

const d = process.env.VF_TESTENV_BIN ? describe : describe.skip;
if (!process.env.VF_TESTENV_BIN) console.warn('e2e/ci/workflow.test.ts: skipped — VF_TESTENV_BIN (actionlint) is not set; run through npm test');

d('CI workflow (.github/workflows/ci.yml)', () => {
  it('passes actionlint', async () => {
    expect(await actionlint(REPO_ROOT, WORKFLOW)).toEqual({ code: 0, out: '' });
  });

  it('actionlint fails a broken workflow (unknown input, bad expression)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vf-actionlint-'));
    try {
      await mkdir(path.join(dir, '.github', 'workflows'), { recursive: true });
      const broken = (await readFile(WORKFLOW, 'utf8'))
        .replace('node-version: 24', 'node-versoin: 24')
        .replace('${{ github.ref }}', '${{ github.reff.nope( }}');
      const file = path.join(dir, '.github', 'workflows', 'ci.yml');
      await writeFile(file, broken);
      const r = await actionlint(dir, file);
      expect(r.code).toBe(1);
      expect(r.out).toContain('node-versoin');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs .ci/run with the npm cache and ~/.cache/vendorfetch cached', async () => {
    const wf = parse(await readFile(WORKFLOW, 'utf8')) as { jobs: Record<string, { steps: Array<{ uses?: string; run?: string; with?: Record<string, unknown> }> }> };
    const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
    expect(steps.some((s) => /\bbash \.ci\/run$/.test(s.run ?? ''))).toBe(true);
    expect(steps.find((s) => s.uses?.startsWith('actions/setup-node@'))?.with).toMatchObject({ cache: 'npm' });
    expect(steps.find((s) => s.uses?.startsWith('actions/cache@'))?.with).toMatchObject({ path: '~/.cache/vendorfetch' });
  });
});
