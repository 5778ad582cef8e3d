// The executors of routes.ts and proxy-rules.ts: read what is there, ask the pure plan,
// apply it. Each step is idempotent, so a failed apply is simply run again.
import { FlotillaError, errorMessage } from '@flotilla/common';
import type { NetworkState } from '@flotilla/proto';
import { type HostNet, commandFailed, mustRun } from './host-net.js';
import {
  type ProxyJump,
  type ProxyRules,
  type ProxyTable,
  isOwnChain,
  parseSavedChains,
  proxyJumps,
  proxyRules,
} from './proxy-rules.js';
import { type RoutePlan, parseIpAddresses, parseIpRoutes, planRoutes, routeProtocol } from './routes.js';

const proto = String(routeProtocol);

export async function readOwnRoutes(net: HostNet) {
  return parseIpRoutes(await mustRun(net, 'ip', ['-j', '-4', 'route', 'show', 'proto', proto]));
}

export async function applyRoutes(
  net: HostNet,
  nodeName: string,
  state: NetworkState | undefined,
): Promise<RoutePlan> {
  // Forwarding is per netns: pods' packets to other nodes and DNATed service traffic cross it.
  await net.writeSysctl('net/ipv4/ip_forward', '1');
  const [current, addresses] = await Promise.all([
    readOwnRoutes(net),
    mustRun(net, 'ip', ['-j', '-4', 'addr', 'show']).then(parseIpAddresses),
  ]);
  const plan = planRoutes({ nodeName, state, current, localAddresses: addresses });
  // One peer that cannot be routed (its address not on a connected network) must not keep
  // the others from theirs: every route is tried, the failures are thrown together.
  const failures: string[] = [];
  const attempt = async (what: () => Promise<unknown>): Promise<void> => {
    try {
      await what();
    } catch (err) {
      failures.push(errorMessage(err));
    }
  };
  for (const r of plan.replace)
    await attempt(() => mustRun(net, 'ip', ['route', 'replace', r.dst, 'via', r.via, 'proto', proto]));
  for (const dst of plan.delete) await attempt(() => deleteRoute(net, dst));
  if (failures.length > 0)
    throw new FlotillaError('Internal', `routes to peers: ${failures.join('; ')}`, { field: 'routes' });
  return plan;
}

async function deleteRoute(net: HostNet, dst: string): Promise<void> {
  const args = ['route', 'del', dst, 'proto', proto];
  const result = await net.run('ip', args);
  // Gone already (another run, the interface went down) is the goal reached.
  if (result.code !== 0 && !/No such process|Cannot find/i.test(result.stderr))
    throw commandFailed('ip', args, result);
}

/** Deletes every route of ours (reset). Returns the ones deleted. */
export async function removeRoutes(net: HostNet): Promise<string[]> {
  const routes = await readOwnRoutes(net);
  for (const r of routes) await deleteRoute(net, r.dst);
  return routes.map((r) => r.dst);
}

async function ownChains(net: HostNet, prefix: string, table: ProxyTable): Promise<string[]> {
  const saved = await mustRun(net, 'iptables-save', ['-t', table]);
  return parseSavedChains(saved).filter((chain) => isOwnChain(prefix, chain));
}

/** The line iptables-save prints for a jump (arguments with spaces in quotes). */
function savedLine(jump: ProxyJump): string {
  return `-A ${jump.chain} ${jump.rule.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}`;
}

/**
 * Programs the service proxy for a state: one `iptables-restore --noflush` of both tables
 * (nothing of anyone else's is flushed), then the jumps into our chains where missing.
 */
export async function applyProxy(
  net: HostNet,
  prefix: string,
  state: NetworkState | undefined,
): Promise<ProxyRules> {
  // Node ports answer on 127.0.0.1 too: the kernel routes a DNATed loopback packet only with this.
  await net.writeSysctl('net/ipv4/conf/all/route_localnet', '1');
  const [nat, filter] = await Promise.all([
    mustRun(net, 'iptables-save', ['-t', 'nat']),
    mustRun(net, 'iptables-save', ['-t', 'filter']),
  ]);
  const saved = { nat: nat.split('\n'), filter: filter.split('\n') };
  const own = (table: ProxyTable) =>
    parseSavedChains(saved[table].join('\n')).filter((c) => isOwnChain(prefix, c));
  const rules = proxyRules({
    chainPrefix: prefix,
    state,
    existing: { nat: own('nat'), filter: own('filter') },
  });
  await mustRun(net, 'iptables-restore', ['-w', '5', '--noflush'], rules.text);
  for (const jump of proxyJumps(prefix)) {
    // Seen in the save already: no command. Else check (the save may print it otherwise), then insert.
    if (saved[jump.table].includes(savedLine(jump))) continue;
    const check = await net.run('iptables', ['-w', '5', '-t', jump.table, '-C', jump.chain, ...jump.rule]);
    if (check.code === 0) continue;
    await mustRun(net, 'iptables', ['-w', '5', '-t', jump.table, '-I', jump.chain, '1', ...jump.rule]);
  }
  return rules;
}

/**
 * Programs the service proxy for a state that follows one this agent programmed, from
 * what that apply left (its chains, its jumps seen): one `iptables-restore --noflush` and
 * no reading back. The text is the one applyProxy would write for the same chains: every
 * chain of ours is declared (emptied) and refilled, the ones no longer wanted deleted.
 */
export async function applyProxyOver(
  net: HostNet,
  prefix: string,
  state: NetworkState | undefined,
  previous: Readonly<Record<ProxyTable, readonly string[]>>,
): Promise<ProxyRules> {
  const rules = proxyRules({ chainPrefix: prefix, state, existing: previous });
  await mustRun(net, 'iptables-restore', ['-w', '5', '--noflush'], rules.text);
  return rules;
}

/**
 * Removes this agent's chains and the jumps into them (reset). Returns what it removed,
 * "table/chain" each.
 */
export async function removeProxy(net: HostNet, prefix: string): Promise<string[]> {
  const removed: string[] = [];
  for (const jump of proxyJumps(prefix)) {
    // -D deletes one copy; repeat in case it was inserted more than once.
    for (let i = 0; i < 10; i++) {
      const del = await net.run('iptables', ['-w', '5', '-t', jump.table, '-D', jump.chain, ...jump.rule]);
      if (del.code !== 0) break;
    }
  }
  const lines: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const chains = await ownChains(net, prefix, table);
    if (chains.length === 0) continue;
    // Flush every chain first, so no chain is still referenced when it is deleted.
    lines.push(`*${table}`, ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT');
    removed.push(...chains.map((c) => `${table}/${c}`));
  }
  if (lines.length > 0)
    await mustRun(net, 'iptables-restore', ['-w', '5', '--noflush'], lines.join('\n') + '\n');
  return removed;
}
