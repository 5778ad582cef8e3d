// `flotilla-agent reset`, pure: from what the host shows of one agent (its runc root, its
// runner's files, its pod records and directories, its pod networks, netns, mounts under
// its state directory, its pod cgroups and the nat table) to the ordered steps that remove
// all of it. reset.ts gathers the inventory and runs the steps; every step is idempotent,
// so a second reset finds nothing and plans nothing.
import { join } from 'node:path';
import { compareText, splitIptablesRule } from '@flotilla/common';

/** What one agent left on the host, as reset.ts found it. */
export interface ResetInventory {
  /** Container IDs under the agent's runc root. */
  runcIds: string[];
  /** Runner files: per container ID, conmon's PID (from its pid file) if it names a live conmon of this ID. */
  runnerIds: { id: string; conmonPid?: number }[];
  /** Pod records (pods/<token>/pod.json): uid and the runc IDs they name. */
  records: { uid: string; runIds: string[] }[];
  /** Directories under <state-dir>/pods (uid tokens). */
  podDirs: string[];
  /** The pod networks: netns with the agent's prefix and network records, as CNI container IDs. */
  networks: string[];
  /** Mount points under the state directory (any order). */
  mounts: string[];
  /**
   * Cgroup directories under the cgroup parent in every hierarchy, any order, each with
   * the name of its pod-level directory (<hierarchy>/<parent>/<pod>/…: <pod>).
   */
  podCgroups: { path: string; pod: string }[];
  /** Whether the node's bridge exists. */
  bridge: boolean;
  /** `iptables-save -t nat` output ('' when iptables is not there). */
  natRules: string;
}

export interface ResetNames {
  stateDir: string;
  podsDir: string;
  cgroupParent: string;
  bridgeName: string;
  networkName: string;
  netnsPrefix: string;
  podCidr: string;
  /** host-local's leases of the network: <ipamDataDir>/<networkName>. */
  leasesDir: string;
}

export type ResetStep =
  | { type: 'kill-container'; id: string }
  | { type: 'kill-conmon'; id: string; pid: number }
  | { type: 'delete-container'; id: string }
  | { type: 'delete-network'; id: string }
  | { type: 'unmount'; path: string }
  | { type: 'remove-pod-dir'; token: string; path: string }
  /** SIGKILL every process still in a pod's cgroup (its runc state is gone, so runc cannot). */
  | { type: 'kill-cgroup-procs'; path: string }
  | { type: 'remove-cgroup'; path: string }
  | { type: 'delete-rule'; table: 'nat'; chain: string; args: string[] }
  | { type: 'delete-chain'; table: 'nat'; chain: string }
  | { type: 'delete-bridge'; name: string }
  | { type: 'remove-leases'; path: string };

/** One line of iptables-save: the chain it is appended to and the rest, as arguments. */
export interface SavedRule {
  chain: string;
  args: string[];
  text: string;
}

export interface SavedTable {
  chains: string[];
  rules: SavedRule[];
}

/** The chains (":NAME …" lines) and rules ("-A NAME …") of one table in iptables-save output. */
export function parseIptablesSave(text: string): SavedTable {
  const chains: string[] = [];
  const rules: SavedRule[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0];
      if (name) chains.push(name);
    } else if (line.startsWith('-A ')) {
      const words = splitIptablesRule(line);
      const chain = words[1];
      if (chain !== undefined) rules.push({ chain, args: words.slice(2), text: line });
    }
  }
  return { chains, rules };
}

function target(rule: SavedRule): string | undefined {
  const i = rule.args.indexOf('-j');
  return i >= 0 ? rule.args[i + 1] : undefined;
}

/**
 * The nat rules and chains of this agent's CNI network: rules whose text names the
 * network (portmap's comments), the node's netns prefix as a CNI container ID, the bridge
 * or the pod CIDR, and the per-pod CNI-DN-* chains they jump to (with every jump to them).
 * portmap's top-level chains (CNI-HOSTPORT-DNAT, -SETMARK, -MASQ) are every CNI network's
 * on the host (podman's, other agents'), hold only fixed rules once ours are gone, and are
 * set up again by every ADD: they stay.
 */
export function planNatCleanup(
  text: string,
  names: Pick<ResetNames, 'networkName' | 'netnsPrefix' | 'bridgeName' | 'podCidr'>,
): ResetStep[] {
  const { chains, rules } = parseIptablesSave(text);
  const mentions = (r: SavedRule): boolean =>
    r.text.includes(`name: \\"${names.networkName}\\"`) ||
    r.text.includes(`id: \\"${names.netnsPrefix}-`) ||
    r.args.some((a) => (names.podCidr !== '' && a === names.podCidr) || a === names.bridgeName);
  const ownChains = new Set<string>();
  for (const r of rules) {
    const to = target(r);
    if (mentions(r) && to !== undefined && to.startsWith('CNI-DN-')) ownChains.add(to);
  }
  const steps: ResetStep[] = [];
  const removed = new Set<SavedRule>();
  for (const r of rules) {
    if (ownChains.has(r.chain) || !mentions(r)) continue;
    steps.push({ type: 'delete-rule', table: 'nat', chain: r.chain, args: r.args });
    removed.add(r);
  }
  for (const chain of [...ownChains].sort()) {
    if (!chains.includes(chain)) continue;
    // Jumps from chains that are not ours (they did not mention the network) go first.
    for (const r of rules) {
      if (target(r) === chain && !removed.has(r) && !ownChains.has(r.chain)) {
        steps.push({ type: 'delete-rule', table: 'nat', chain: r.chain, args: r.args });
        removed.add(r);
      }
    }
    steps.push({ type: 'delete-chain', table: 'nat', chain });
    for (const r of rules) if (r.chain === chain) removed.add(r);
  }
  return steps;
}

function tokenOf(id: string): string {
  return id.split('-')[0] ?? '';
}

/** A uid with its dashes removed, lowercased: what tokens are prefixes of. */
function squash(uid: string): string {
  return uid.replace(/[^A-Za-z0-9]/g, '').toLowerCase();
}

/** Deepest first, then by name: children before their parents. */
function deepestFirst(paths: string[]): string[] {
  return [...new Set(paths)].sort((a, b) => b.split('/').length - a.split('/').length || compareText(a, b));
}

/**
 * Every step, in order: containers (runc kill, conmon by its recorded PID, runc delete),
 * pod networks (CNI DEL, netns, record), mounts under the state directory, pod
 * directories, the pods' cgroups (only those of uids this agent knows: the parent may be
 * shared; processes still in them are killed by PID first, for when runc's state is
 * gone), the network's nat rules and chains, the bridge, and host-local's leases.
 */
export function planReset(inv: ResetInventory, names: ResetNames): ResetStep[] {
  const steps: ResetStep[] = [];
  const ids = new Set<string>([
    ...inv.runcIds,
    ...inv.runnerIds.map((r) => r.id),
    ...inv.records.flatMap((r) => r.runIds),
  ]);
  const inRunc = new Set(inv.runcIds);
  const sorted = [...ids].sort();
  for (const id of sorted) if (inRunc.has(id)) steps.push({ type: 'kill-container', id });
  for (const r of [...inv.runnerIds].sort((a, b) => compareText(a.id, b.id)))
    if (r.conmonPid !== undefined) steps.push({ type: 'kill-conmon', id: r.id, pid: r.conmonPid });
  for (const id of sorted) steps.push({ type: 'delete-container', id });
  for (const id of [...new Set(inv.networks)].sort()) steps.push({ type: 'delete-network', id });
  for (const path of deepestFirst(inv.mounts)) steps.push({ type: 'unmount', path });
  for (const token of [...new Set(inv.podDirs)].sort())
    steps.push({ type: 'remove-pod-dir', token, path: join(names.podsDir, token) });

  // Tokens of every pod this agent knows: records, pod dirs, run IDs (16 characters of
  // the uid), network IDs (<prefix>-<12 characters>).
  const tokens = new Set<string>();
  for (const r of inv.records) tokens.add(squash(r.uid).slice(0, 16));
  for (const d of inv.podDirs) tokens.add(d.toLowerCase());
  for (const id of ids) tokens.add(tokenOf(id).toLowerCase());
  for (const n of inv.networks) {
    const short = n.startsWith(`${names.netnsPrefix}-`) ? n.slice(names.netnsPrefix.length + 1) : '';
    if (short.length >= 8) tokens.add(short.toLowerCase());
  }
  const known = [...tokens].filter((t) => t.length >= 8);
  const ours = inv.podCgroups
    .filter((c) => known.some((t) => squash(c.pod).startsWith(t)))
    .map((c) => c.path);
  for (const path of deepestFirst(ours)) steps.push({ type: 'kill-cgroup-procs', path });
  for (const path of deepestFirst(ours)) steps.push({ type: 'remove-cgroup', path });

  steps.push(...planNatCleanup(inv.natRules, names));
  if (inv.bridge) steps.push({ type: 'delete-bridge', name: names.bridgeName });
  steps.push({ type: 'remove-leases', path: names.leasesDir });
  return steps;
}

/** One line of what reset did, for its output. */
export function describeStep(step: ResetStep): string {
  switch (step.type) {
    case 'kill-container':
      return `killed container ${step.id}`;
    case 'kill-conmon':
      return `killed conmon ${step.pid} of ${step.id}`;
    case 'delete-container':
      return `deleted container ${step.id}`;
    case 'delete-network':
      return `deleted pod network ${step.id} (CNI DEL, netns, record)`;
    case 'unmount':
      return `unmounted ${step.path}`;
    case 'remove-pod-dir':
      return `removed pod directory ${step.path}`;
    case 'kill-cgroup-procs':
      return `killed the processes left in cgroup ${step.path}`;
    case 'remove-cgroup':
      return `removed cgroup ${step.path}`;
    case 'delete-rule':
      return `deleted iptables rule -t ${step.table} -A ${step.chain} ${step.args.join(' ')}`;
    case 'delete-chain':
      return `deleted iptables chain -t ${step.table} ${step.chain}`;
    case 'delete-bridge':
      return `deleted bridge ${step.name}`;
    case 'remove-leases':
      return `removed host-local leases ${step.path}`;
  }
}
