// The runtime image holds product code only: the Dockerfile compiles tsconfig.product.json and
// copies nothing but the product folders into its build stage. Here the same compile runs into a
// temp folder and every emitted file must belong to a product folder; and no product source
// (tests aside) may import the harness (testing/) or the suites (e2e/).
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const ROOT = path.resolve(import.meta.dirname, '..');
const PRODUCT = ['api', 'worker', 'core', 'controller', 'vendor-mocks'];

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

test('the product build emits files of the product folders only', async () => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'vf-product-dist-'));
  try {
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    await promisify(execFile)(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.product.json'), '--outDir', out], { cwd: ROOT });
    const files = await filesUnder(out);
    const topFolders = new Set(files.map((f) => f.split(path.sep)[0]));
    expect([...topFolders].sort()).toEqual([...PRODUCT].sort());
    expect(files.filter((f) => /\.test\.js$|test-support\.js$/.test(f))).toEqual([]);
    expect(files).toContain(path.join('api', 'main.js'));
    expect(files).toContain(path.join('worker', 'main.js'));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}, 120_000);

test('the Dockerfile copies only product folders into its build stage', async () => {
  const dockerfile = await readFile(path.join(ROOT, 'Dockerfile'), 'utf8');
  const buildStage = dockerfile.split(/^FROM /m).find((stage) => / AS build$/m.test(stage.split('\n')[0] ?? ''))!;
  const copied = [...buildStage.matchAll(/^COPY (?!--from)(\S+)/gm)].map((m) => m[1]);
  expect(copied.filter((src) => !PRODUCT.includes(src!) && !/^(package|tsconfig)/.test(src!))).toEqual([]);
  expect(buildStage).toContain('tsc -p tsconfig.product.json');
});

test('no product source outside tests imports testing/ or e2e/', async () => {
  const offenders: string[] = [];
  for (const folder of PRODUCT) {
    for (const file of await filesUnder(path.join(ROOT, folder))) {
      if (!file.endsWith('.ts') || /\.test\.ts$|test-support\.ts$/.test(file) || file === path.join('store', 'contract.ts')) continue;
      const src = await readFile(path.join(ROOT, folder, file), 'utf8');
      if (/from\s+['"](\.\.\/)+(testing|e2e)\//.test(src)) offenders.push(path.join(folder, file));
    }
  }
  expect(offenders).toEqual([]);
});
