import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isRunning, spawnServer, stopProcesses } from './processes.js';

describe('spawnServer / isRunning / stopProcesses', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vf-proc-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('recognises its process by executable and stops it with SIGTERM', async () => {
    const s = spawnServer({ name: 'sleep', binary: '/bin/sleep', args: ['30'], logFile: path.join(dir, 's.log'), detached: false });
    expect(isRunning(s)).toBe(true);
    // Same PID, other executable: treated as not ours (PID reuse).
    expect(isRunning({ pid: s.pid, binary: '/bin/true' })).toBe(false);
    const t0 = Date.now();
    await stopProcesses([s]);
    expect(isRunning(s)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('kills a process that ignores SIGTERM after the grace period', async () => {
    const s = spawnServer({
      name: 'stubborn',
      binary: '/bin/sh',
      args: ['-c', 'trap "" TERM; echo started; while :; do sleep 0.1; done'],
      logFile: path.join(dir, 'stubborn.log'),
      detached: true,
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(isRunning(s)).toBe(true);
    const t0 = Date.now();
    await stopProcesses([s], 500);
    expect(isRunning(s)).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
  });

  it('does nothing for processes that are already gone', async () => {
    await expect(stopProcesses([{ name: 'gone', pid: 2 ** 22 + 1, binary: '/bin/sleep', logFile: '' }])).resolves.toBeUndefined();
  });
});
