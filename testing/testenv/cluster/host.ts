// What the one-node cluster changes on the machine itself, and how `down` takes it back:
// the node's own interface and routes, the pod bridge, two sysctls, iptables chains (its own
// guard, kube-proxy's), the CRI's network namespaces, mounts under the run dir, a cgroup
// subtree, and leftover container processes. `prepareHost` records what was there before, so
// `cleanHost` removes only what the cluster added, even after a failed or killed `up`.
import { execFile } from 'node:child_process';
import { readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NET } from './config.js';

export interface HostSnapshot {
  /** sysctl file → value before `up`. */
  sysctls: Record<string, string>;
  /** `iptables`/`ip6tables` → table → chain names before `up`. */
  chains: Record<string, Record<string, string[]>>;
  /** Network namespaces (under /var/run/netns) before `up`. */
  netns: string[];
  /** The cgroup subtree (relative to each v1 hierarchy) that the kubelet runs pods under. */
  cgroupRoot: string;
}

const SYSCTLS = ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/bridge/bridge-nf-call-iptables'];
const IPTABLES = ['iptables', 'ip6tables'] as const;
const TABLES = ['filter', 'nat', 'mangle'] as const;
const NETNS_DIR = '/var/run/netns';
export const CGROUP_ROOT = '/vf-cluster';
const GUARD_CHAIN = 'VF-CLUSTER-EGRESS';

export function run(cmd: string, args: string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && !opts.allowFail) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/**
 * User-defined chain names per table, as `iptables-save` lists them (`:NAME - [..]`; built-in
 * chains have a policy instead of `-` and are never removed).
 */
export function parseChains(save: string): Record<string, string[]> {
  const chains: Record<string, string[]> = {};
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) chains[(table = line.slice(1).trim())] = [];
    else if (line.startsWith(':') && table && line.split(' ')[1] === '-') chains[table]!.push(line.slice(1).split(' ')[0]!);
  }
  return chains;
}

/**
 * The `-D` argument lists that remove every rule jumping to one of `added`, and the chains
 * to flush and delete, for one table of `iptables-save` output. Pure, for unit tests.
 */
export function chainsToRemove(save: string, table: string, before: string[]): { deleteRules: string[][]; chains: string[] } {
  const now = parseChains(save)[table] ?? [];
  const added = new Set(now.filter((c) => !before.includes(c)));
  const deleteRules: string[][] = [];
  let current = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) current = line.slice(1).trim();
    if (current !== table || !line.startsWith('-A ')) continue;
    const words = line.split(' ');
    const chain = words[1]!;
    const target = words[words.indexOf('-j') + 1] ?? words[words.indexOf('-g') + 1];
    // Rules inside an added chain go with the chain; rules elsewhere that jump into one must go first.
    if (!added.has(chain) && target && added.has(target)) deleteRules.push(['-D', ...splitRule(line.slice(3))]);
  }
  return { deleteRules, chains: [...added] };
}

/** Split an iptables-save rule into arguments, keeping quoted comments whole. */
function splitRule(rule: string): string[] {
  const args: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(rule); m; m = re.exec(rule)) args.push(m[1] !== undefined ? m[1].replace(/\\"/g, '"') : m[2]!);
  return args;
}

async function cgroupHierarchies(): Promise<string[]> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup')
    .map((f) => f[1]!);
}

export async function snapshotHost(): Promise<HostSnapshot> {
  const sysctls: Record<string, string> = {};
  for (const f of SYSCTLS) sysctls[f] = (await readFile(f, 'utf8')).trim();
  const chains: HostSnapshot['chains'] = {};
  for (const bin of IPTABLES) chains[bin] = parseChains(await run(`${bin}-save`, [], { allowFail: true }));
  let netns: string[] = [];
  try {
    netns = await readdir(NETNS_DIR);
  } catch {
    // no namespaces yet
  }
  return { sysctls, chains, netns, cgroupRoot: CGROUP_ROOT };
}

/** Set up the node's network and cgroups. Call `cleanHost` with the same snapshot to undo. */
export async function prepareHost(snap: HostSnapshot): Promise<void> {
  for (const f of SYSCTLS) await writeFile(f, '1');
  // A bridge without ports holds the node's address: this kernel has no `dummy` driver (and no
  // modprobe), and packets routed into an empty bridge go nowhere, which is what we want below.
  await run('ip', ['link', 'add', NET.nodeInterface, 'type', 'bridge']);
  await run('ip', ['addr', 'add', `${NET.nodeIp}/32`, 'dev', NET.nodeInterface]);
  await run('ip', ['link', 'set', NET.nodeInterface, 'up']);
  // Service addresses that kube-proxy does not rewrite end here, never on the default route.
  await run('ip', ['route', 'add', NET.serviceCidr, 'dev', NET.nodeInterface, 'src', NET.nodeIp]);
  // Defence in depth beside the pods' missing default route: drop anything from a pod that is
  // forwarded to an address outside the cluster.
  await run('iptables', ['-N', GUARD_CHAIN]);
  await run('iptables', ['-A', GUARD_CHAIN, '-s', NET.podCidr, '!', '-d', NET.clusterRange, '-j', 'DROP']);
  await run('iptables', ['-I', 'FORWARD', '1', '-j', GUARD_CHAIN]);
  for (const h of await cgroupHierarchies()) await run('mkdir', ['-p', path.join(h, snap.cgroupRoot)]);
}

/** Mount points under `roots` (deepest first), from /proc/self/mountinfo. */
async function mountsUnder(roots: string[]): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m)
    .map((m) => m.replace(/\\040/g, ' '))
    .filter((m) => roots.some((r) => m === r || m.startsWith(`${r}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** PIDs listed in a cgroup subtree (every hierarchy). */
async function pidsInCgroup(root: string): Promise<number[]> {
  const pids = new Set<number>();
  for (const h of await cgroupHierarchies()) {
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      try {
        for (const p of (await readFile(path.join(dir, 'cgroup.procs'), 'utf8')).split('\n')) if (p) pids.add(Number(p));
      } catch {
        // not a cgroup dir
      }
      for (const e of entries) if (e.isDirectory()) await walk(path.join(dir, e.name));
    };
    await walk(path.join(h, root));
  }
  return [...pids];
}

/** rmdir a cgroup subtree, children first (cgroup dirs can only be removed empty of children). */
async function removeCgroupTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await removeCgroupTree(path.join(dir, e.name));
  await rmdir(dir).catch(() => undefined); // busy (a process we could not kill) is reported by `leftovers`
}

/** Processes whose command line names `needle` (containerd shims of this run), with their children. */
async function processesNaming(needle: string): Promise<number[]> {
  const out = await run('ps', ['-eo', 'pid=,ppid=,args='], { allowFail: true });
  const rows = out
    .split('\n')
    .map((l) => l.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
    .filter((m): m is RegExpMatchArray => !!m)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }));
  const found = new Set(rows.filter((r) => r.args.includes(needle)).map((r) => r.pid));
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of rows) if (!found.has(r.pid) && found.has(r.ppid)) grew = !!found.add(r.pid);
  }
  return [...found];
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/**
 * Undo `prepareHost` and everything the node's programs added. Safe to run more than once and
 * after a partial `up`; errors are collected, not thrown half-way, so one stuck step does not
 * leave the rest behind.
 */
export async function cleanHost(snap: HostSnapshot, rootDir: string, log: (m: string) => void): Promise<string[]> {
  const problems: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
    }
  };
  // Containers outlive their shims' parent; kill them and the shims of this run's containerd.
  await attempt('kill containers', async () => {
    for (let i = 0; i < 3; i++) {
      const pids = [...(await pidsInCgroup(snap.cgroupRoot)), ...(await processesNaming(rootDir))];
      if (!pids.length) break;
      killAll(pids);
      await new Promise((r) => setTimeout(r, 300));
    }
  });
  const newNetns = async () => {
    try {
      return (await readdir(NETNS_DIR)).filter((n) => !snap.netns.includes(n) && n.startsWith('cni-'));
    } catch {
      return [];
    }
  };
  await attempt('unmount', async () => {
    const mounts = await mountsUnder([rootDir, ...(await newNetns()).map((n) => path.join(NETNS_DIR, n))]);
    for (const m of mounts) {
      const ok = await run('umount', [m], { allowFail: true }).then(
        () => true,
        () => false,
      );
      if (!ok) await run('umount', ['-l', m], { allowFail: true });
    }
    const left = await mountsUnder([rootDir]);
    if (left.length) throw new Error(`still mounted: ${left.join(', ')}`);
  });
  await attempt('network namespaces', async () => {
    for (const n of await newNetns()) await run('ip', ['netns', 'delete', n], { allowFail: true });
  });
  for (const link of [NET.bridge, NET.nodeInterface]) {
    await attempt(`link ${link}`, async () => {
      const exists = (await run('ip', ['-o', 'link', 'show', link], { allowFail: true })).trim() !== '';
      if (exists) await run('ip', ['link', 'delete', link]);
    });
  }
  for (const bin of IPTABLES) {
    await attempt(bin, async () => {
      const save = await run(`${bin}-save`, [], { allowFail: true });
      for (const table of TABLES) {
        const { deleteRules, chains } = chainsToRemove(save, table, snap.chains[bin]?.[table] ?? []);
        for (const rule of deleteRules) await run(bin, ['-w', '-t', table, ...rule], { allowFail: true });
        for (const c of chains) await run(bin, ['-w', '-t', table, '-F', c], { allowFail: true });
        for (const c of chains) await run(bin, ['-w', '-t', table, '-X', c], { allowFail: true });
      }
    });
  }
  for (const [file, value] of Object.entries(snap.sysctls)) await attempt(`sysctl ${file}`, () => writeFile(file, value));
  await attempt('cgroups', async () => {
    for (const h of await cgroupHierarchies()) await removeCgroupTree(path.join(h, snap.cgroupRoot));
  });
  for (const p of problems) log(`cluster: cleanup: ${p}`);
  return problems;
}

/** What of the cluster is still on the machine (for `down`'s report and the tests). */
export async function leftovers(snap: HostSnapshot, rootDir: string): Promise<string[]> {
  const found: string[] = [];
  for (const link of [NET.bridge, NET.nodeInterface]) {
    if ((await run('ip', ['-o', 'link', 'show', link], { allowFail: true })).trim()) found.push(`link ${link}`);
  }
  try {
    for (const n of await readdir(NETNS_DIR)) if (!snap.netns.includes(n) && n.startsWith('cni-')) found.push(`netns ${n}`);
  } catch {
    // none
  }
  for (const m of await mountsUnder([rootDir])) found.push(`mount ${m}`);
  for (const bin of IPTABLES) {
    const save = await run(`${bin}-save`, [], { allowFail: true });
    for (const table of TABLES) for (const c of chainsToRemove(save, table, snap.chains[bin]?.[table] ?? []).chains) found.push(`${bin} ${table} chain ${c}`);
  }
  for (const pid of [...(await pidsInCgroup(snap.cgroupRoot)), ...(await processesNaming(rootDir))]) found.push(`process ${pid}`);
  return found;
}
