// The thin, synchronous layer under plan.ts and teardown.ts: runs their commands and reads
// what the machine shows. Synchronous on purpose: a test's exit handler (after a crash)
// must be able to tear hosts down, and nothing else runs while hosts are made or removed.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  type HostCommand,
  type HostSpec,
  type HostsPlan,
  linkCommand,
  pickSubnet,
  prefixesInUse,
  setupCommands,
} from './plan.js';
import {
  type HostsObservation,
  type ProcessInfo,
  type TeardownPlan,
  carriesPrefix,
  inPrefixCgroup,
  leftoverLines,
  teardownPlan,
} from './teardown.js';

export class HostCommandError extends Error {
  constructor(
    readonly command: HostCommand,
    readonly stderr: string,
  ) {
    super(`${command.what} failed: ${command.argv.join(' ')}: ${stderr.trim() || 'no output'}`);
    this.name = 'HostCommandError';
  }
}

function run(cmd: HostCommand): string {
  const [file = '', ...args] = cmd.argv;
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string | Buffer; message: string };
    throw new HostCommandError(cmd, e.stderr ? e.stderr.toString() : e.message);
  }
}

/** Output of a read-only command, or '' when it fails (a missing tool reads as nothing there). */
function quiet(argv: string[]): string {
  const [file = '', ...args] = argv;
  try {
    return execFileSync(file, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 64 << 20,
    });
  } catch {
    return '';
  }
}

/** Prefixes the root netns routes to or holds addresses in, for pickSubnet. */
export function prefixesOnThisMachine(): string[] {
  return prefixesInUse(
    quiet(['ip', '-4', 'route', 'show', 'table', 'all']),
    quiet(['ip', '-4', '-o', 'addr', 'show']),
  );
}

/** A /24 for the hosts' bridge that nothing on this machine uses, walked from start. */
export function freeSubnet(start: number): string {
  return pickSubnet(prefixesOnThisMachine(), start);
}

/**
 * Makes the plan's bridge and hosts. On a failure, removes whatever of the prefix it had
 * made and rethrows, so a failed setup leaves nothing.
 */
export function createHosts(plan: HostsPlan, dirs: readonly string[] = []): void {
  try {
    for (const cmd of setupCommands(plan)) run(cmd);
  } catch (err) {
    teardownHosts(plan.prefix, dirs);
    throw err;
  }
}

/** Cuts a host off the bridge (its root-side veth down), or reconnects it. */
export function setHostLink(plan: HostsPlan, index: number, up: boolean): void {
  run(linkCommand(plan, index, up));
}

function processes(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const link = readlinkSync(`/proc/${entry}/ns/net`);
      const netInode = Number(/\[(\d+)\]/.exec(link)?.[1] ?? 0);
      const cgroups = readFileSync(`/proc/${entry}/cgroup`, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.slice(l.indexOf(':', l.indexOf(':') + 1) + 1));
      out.push({ pid: Number(entry), netInode, cgroups });
    } catch {
      // exited while we looked, or a kernel thread
    }
  }
  return out;
}

function netnsEntries(): { name: string; inode: number }[] {
  if (!existsSync('/run/netns')) return [];
  return readdirSync('/run/netns').map((name) => {
    let inode = 0;
    try {
      inode = statSync(join('/run/netns', name)).ino;
    } catch {
      // a stale entry whose namespace is gone: removed all the same
    }
    return { name, inode };
  });
}

const cgroupRoot = '/sys/fs/cgroup';

/** Top-level cgroup directories carrying the prefix, under every hierarchy (not symlinks). */
function prefixCgroupDirs(prefix: string): string[] {
  if (!existsSync(cgroupRoot)) return [];
  const hierarchies = [cgroupRoot, ...readdirSync(cgroupRoot).map((d) => join(cgroupRoot, d))];
  const out: string[] = [];
  for (const h of hierarchies) {
    try {
      if (lstatSync(h).isSymbolicLink() || !lstatSync(h).isDirectory()) continue;
      for (const e of readdirSync(h, { withFileTypes: true })) {
        if (e.isDirectory() && inPrefixCgroup(`/${e.name}`, prefix)) out.push(join(h, e.name));
      }
    } catch {
      // a hierarchy we cannot read holds nothing of ours
    }
  }
  return out;
}

const cniLeases = '/var/lib/cni/networks';

export function observeHosts(prefix: string, dirs: readonly string[]): HostsObservation {
  const links = quiet(['ip', '-o', 'link', 'show'])
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter((n) => n !== '');
  const iptables: Record<string, string> = {};
  for (const table of ['nat', 'filter', 'mangle']) iptables[table] = quiet(['iptables-save', '-t', table]);
  const leaseDirs = existsSync(cniLeases)
    ? readdirSync(cniLeases)
        .filter((n) => n.includes(prefix))
        .map((n) => join(cniLeases, n))
    : [];
  return {
    netns: netnsEntries(),
    processes: processes(),
    links,
    iptables,
    mountinfo: readFileSync('/proc/self/mountinfo', 'utf8'),
    cgroupDirs: prefixCgroupDirs(prefix),
    dirs: [...dirs, ...leaseDirs].filter((d) => existsSync(d)),
    selfPid: process.pid,
  };
}

function removeCgroupTree(dir: string): void {
  let children: string[] = [];
  try {
    children = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return;
  }
  for (const child of children) removeCgroupTree(join(dir, child));
  // A frozen cgroup (runc pause) cannot lose its processes; thaw it first.
  if (existsSync(join(dir, 'freezer.state'))) quiet(['sh', '-c', `echo THAWED > '${dir}/freezer.state'`]);
  quiet(['rmdir', dir]);
}

function kill(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

function applyTeardown(plan: TeardownPlan): void {
  kill(plan.kill);
  if (plan.kill.length > 0) quiet(['sleep', '0.2']);
  for (const point of plan.unmount) {
    if (quiet(['umount', point]) === '' && existsSync(point)) quiet(['umount', '-l', point]);
  }
  for (const n of plan.netns) quiet(['ip', 'netns', 'delete', n]);
  for (const l of plan.links) quiet(['ip', 'link', 'delete', l]);
  for (const c of plan.iptables) quiet(['iptables', '-w', '-t', c.table, ...c.args]);
  for (const c of plan.cgroupDirs) removeCgroupTree(c);
  for (const d of plan.dirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // a busy mount below it; the next round (or leftovers) reports it
    }
  }
}

/**
 * Removes everything carrying the prefix (processes in its netns and cgroups, mounts,
 * netns, links, iptables rules and chains, cgroups) and the given directories. Rounds
 * until nothing is left or three rounds went by; returns what is still there.
 */
export function teardownHosts(prefix: string, dirs: readonly string[] = []): string[] {
  let left: string[] = [];
  for (let round = 0; round < 4; round++) {
    const plan = teardownPlan(prefix, observeHosts(prefix, dirs), dirs);
    left = leftoverLines(plan);
    if (left.length === 0) return [];
    applyTeardown(plan);
  }
  return leftoverLines(teardownPlan(prefix, observeHosts(prefix, dirs), dirs));
}

/** What of the prefix is left on the machine, one line each; empty when clean. */
export function hostsLeftovers(prefix: string, dirs: readonly string[] = []): string[] {
  return leftoverLines(teardownPlan(prefix, observeHosts(prefix, dirs), dirs));
}

/**
 * The PIDs that belong to one host: every process in its netns (its agent, the conmon
 * monitors it started), in its pods' netns, or in its cgroup parent (the containers).
 */
export function hostPids(host: HostSpec): number[] {
  const nets = netnsEntries().filter(
    (n) => n.name === host.name || carriesPrefix(n.name, `${host.agent.netnsPrefix}-`),
  );
  const inodes = new Set(nets.map((n) => n.inode).filter((i) => i > 0));
  const parent = host.agent.cgroupParent;
  return processes()
    .filter(
      (p) =>
        p.pid !== process.pid &&
        (inodes.has(p.netInode) || p.cgroups.some((c) => c === parent || c.startsWith(`${parent}/`))),
    )
    .map((p) => p.pid);
}

/** SIGKILLs every process of a host (a power cut); returns the PIDs signalled. */
export function killHostProcesses(host: HostSpec): number[] {
  const all: number[] = [];
  // Twice: a process that was forking when we looked leaves a child the first pass missed.
  for (let round = 0; round < 3; round++) {
    const pids = hostPids(host);
    if (pids.length === 0) break;
    kill(pids);
    all.push(...pids);
    quiet(['sleep', '0.1']);
  }
  return [...new Set(all)];
}
