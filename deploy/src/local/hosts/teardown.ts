// Teardown of hosts by prefix, as a pure decision over what the machine shows: which
// processes to kill, what to unmount, which netns, links, iptables rules and chains,
// cgroups and directories to remove. It needs nothing but the prefix (and the state
// directories, when they do not carry it), so it also cleans up after a crash of an
// earlier run. apply.ts observes and applies.
import { splitIptablesRule } from '@flotilla/common';

/** One process as /proc shows it. */
export interface ProcessInfo {
  pid: number;
  /** The inode of /proc/PID/ns/net ("net:[INODE]"). */
  netInode: number;
  /** The cgroup paths of /proc/PID/cgroup, one per hierarchy ("/flt1-h1/pod…"). */
  cgroups: string[];
}

export interface HostsObservation {
  /** Entries of /run/netns with their nsfs inode (0 when it could not be read). */
  netns: { name: string; inode: number }[];
  processes: ProcessInfo[];
  /** Interface names in the root netns. */
  links: string[];
  /** iptables-save output per table of the root netns. */
  iptables: Record<string, string>;
  /** /proc/self/mountinfo. */
  mountinfo: string;
  /** Top-level cgroup directories whose name carries the prefix (absolute paths). */
  cgroupDirs: string[];
  /** Directories to remove that exist (state directories, CNI leases). */
  dirs: string[];
  /** The PID doing the teardown: never killed. */
  selfPid: number;
}

export interface IptablesCommand {
  table: string;
  args: string[];
}

export interface TeardownPlan {
  kill: number[];
  unmount: string[];
  netns: string[];
  links: string[];
  iptables: IptablesCommand[];
  cgroupDirs: string[];
  dirs: string[];
}

/** Names made for the prefix: the prefix itself, then a separator or more of the name. */
export function carriesPrefix(name: string, prefix: string): boolean {
  return name.startsWith(prefix);
}

/** mountinfo escapes blanks and backslashes as octal. */
function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function mountPoints(mountinfo: string): string[] {
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined && p !== '')
    .map(unescapeMount);
}

function under(path: string, dir: string): boolean {
  const root = dir.endsWith('/') ? dir.slice(0, -1) : dir;
  return path === root || path.startsWith(root + '/');
}

/** A cgroup path one of the prefix's cgroup parents ("/<prefix>-h1/…") holds. */
export function inPrefixCgroup(path: string, prefix: string): boolean {
  const top = path.split('/')[1] ?? '';
  return top.startsWith(`${prefix}-`);
}

function iptablesPlan(table: string, save: string, prefix: string): IptablesCommand[] {
  const cmds: IptablesCommand[] = [];
  const chains = new Set<string>();
  for (const line of save.split('\n')) {
    const chain = /^:(\S+)/.exec(line)?.[1];
    if (chain && chain.includes(prefix)) chains.add(chain);
  }
  // Rules first (those in built-in chains that jump to ours, or name our interfaces),
  // then our chains: a chain is deleted only once nothing jumps to it.
  for (const line of save.split('\n')) {
    if (!line.startsWith('-A ') || !line.includes(prefix)) continue;
    const words = splitIptablesRule(line);
    if (chains.has(words[1] ?? '')) continue;
    cmds.push({ table, args: ['-D', ...words.slice(1)] });
  }
  for (const chain of chains) cmds.push({ table, args: ['-F', chain] });
  for (const chain of chains) cmds.push({ table, args: ['-X', chain] });
  return cmds;
}

/** What to remove for prefix (pure). dirs: directories the prefix's run wrote. */
export function teardownPlan(prefix: string, obs: HostsObservation, dirs: readonly string[]): TeardownPlan {
  const ours = obs.netns.filter((n) => carriesPrefix(n.name, prefix));
  const inodes = new Set(ours.map((n) => n.inode).filter((i) => i > 0));
  const kill = obs.processes
    .filter(
      (p) =>
        p.pid !== obs.selfPid &&
        p.pid > 1 &&
        (inodes.has(p.netInode) || p.cgroups.some((c) => inPrefixCgroup(c, prefix))),
    )
    .map((p) => p.pid);
  const netnsPaths = new Set(ours.map((n) => `/run/netns/${n.name}`));
  const unmount = [
    ...new Set(
      mountPoints(obs.mountinfo).filter(
        (p) =>
          !netnsPaths.has(p) &&
          !p.startsWith('/sys/fs/cgroup') &&
          (p.includes(prefix) || dirs.some((d) => under(p, d))),
      ),
    ),
  ].sort((a, b) => b.length - a.length);
  const iptables = Object.entries(obs.iptables).flatMap(([table, save]) => iptablesPlan(table, save, prefix));
  return {
    kill,
    unmount,
    netns: ours.map((n) => n.name),
    links: obs.links.filter((l) => carriesPrefix(l, prefix)),
    iptables,
    cgroupDirs: obs.cgroupDirs,
    dirs: obs.dirs,
  };
}

/** Everything of the prefix the machine still shows, one line each (pure); empty when clean. */
export function leftoverLines(plan: TeardownPlan): string[] {
  return [
    ...plan.kill.map((p) => `process ${p}`),
    ...plan.unmount.map((m) => `mount ${m}`),
    ...plan.netns.map((n) => `netns ${n}`),
    ...plan.links.map((l) => `link ${l}`),
    ...plan.iptables
      .filter((c) => c.args[0] !== '-F')
      .map((c) => `iptables -t ${c.table} ${c.args.join(' ')}`),
    ...plan.cgroupDirs.map((c) => `cgroup ${c}`),
    ...plan.dirs.map((d) => `directory ${d}`),
  ];
}
