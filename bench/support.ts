// Small helpers the benchmarks share.
import autocannon from 'autocannon';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { ferretBinary } from '../e2e/faults/store-server.js';
import { parsePaths } from '../testing/testenv/binaries.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** `a / b` as a printed ratio, e.g. `0.83×`; blank when there is no b. */
export const ratio = (a: number, b: number | undefined): string => (b ? `${round(a / b, 2)}×` : '');

/**
 * The FerretDB build of the test environment ($VF_TESTENV_BIN, else the cache that
 * `npm run testenv -- build` fills), or undefined when none is built. Benchmarks run from the
 * repository root, where testing/testenv/build.sh knows the cache path.
 */
export async function ferretDbBinary(): Promise<string | undefined> {
  const fromEnv = ferretBinary();
  if (fromEnv) return fromEnv;
  try {
    const { stdout } = await promisify(execFile)('bash', ['testing/testenv/build.sh', 'paths']);
    const ferretdb = parsePaths(stdout).ferretdb;
    return ferretdb.present ? ferretdb.path : undefined;
  } catch {
    return undefined;
  }
}

/** Resident memory of a process in MiB (Linux /proc), or undefined once it is gone. */
async function rssMiB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const kb = status && /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return kb ? Number(kb) / 1024 : undefined;
}

/**
 * Share of one core a process used while `work` ran (Linux /proc: user + system time, in the
 * kernel's 100 ticks per second), or undefined without a pid.
 */
export async function withCpuShare<T>(pid: number | undefined, work: Promise<T>): Promise<{ result: T; cpuShare: number | undefined }> {
  const ticks = async () => {
    const stat = pid === undefined ? undefined : await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields ? Number(fields[11]) + Number(fields[12]) : undefined;
  };
  const [before, started] = [await ticks(), performance.now()];
  const result = await work;
  const [after, seconds] = [await ticks(), (performance.now() - started) / 1000];
  return { result, cpuShare: before === undefined || after === undefined ? undefined : (after - before) / 100 / seconds };
}

/** Runs `work` while sampling the process' resident memory twice a second; its result and the peak. */
export async function withPeakRss<T>(pid: number | undefined, work: Promise<T>): Promise<{ result: T; peakRssMiB: number | undefined }> {
  let peak: number | undefined;
  const sample = async () => {
    const now = pid === undefined ? undefined : await rssMiB(pid);
    if (now !== undefined) peak = Math.max(peak ?? 0, now);
  };
  const timer = setInterval(() => void sample(), 500);
  try {
    const result = await work;
    await sample();
    return { result, peakRssMiB: peak };
  } finally {
    clearInterval(timer);
  }
}

/** The payload of every benchmark job. */
export const BENCH_PAYLOAD = { query: 'acme corp', page: 1, filters: ['a', 'b'] };

/** The ingest load: 200 connections of `POST /jobs` for `seconds` (the ingest and memory benches). */
export const postJobsLoad = (url: string, seconds: number, vendor: string) =>
  autocannon({
    url,
    method: 'POST',
    connections: 200,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ vendor, payload: BENCH_PAYLOAD }),
  });
