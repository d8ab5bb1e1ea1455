// The state file of the environment that `testenv up` left running (git-ignored .testenv/).
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestEnvState } from './env.js';

export async function readState(file: string): Promise<TestEnvState | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as TestEnvState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`unreadable testenv state file ${file}: ${(err as Error).message}`);
  }
}

export async function writeState(file: string, state: TestEnvState): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, file);
}

export async function removeState(file: string): Promise<void> {
  await rm(file, { force: true });
}
