// Where names outside the cluster domain go: the host's own nameservers, from its
// /etc/resolv.conf (the agent runs in the host's network namespace, so a loopback
// resolver such as systemd-resolved's 127.0.0.53 is reachable from here, unlike from a
// pod). Pure: the file's text in, the addresses to try in order out.
import { isIP } from 'node:net';

export interface Upstream {
  address: string;
  port: number;
}

/**
 * The nameserver lines of a resolv.conf, in order, without our own addresses (a loop:
 * the node's DNS forwarding to itself) and without duplicates. glibc reads at most three.
 */
export function upstreamsFromResolvConf(text: string, ownAddresses: readonly string[] = []): Upstream[] {
  const own = new Set(ownAddresses);
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const words = line
      .replace(/[#;].*$/, '')
      .trim()
      .split(/\s+/);
    if (words[0] !== 'nameserver' || words[1] === undefined) continue;
    // "fe80::1%eth0": the zone is part of the address for dgram.
    const address = words[1];
    if (isIP(address.split('%')[0] ?? '') === 0) continue;
    if (own.has(address) || out.some((u) => u.address === address)) continue;
    out.push({ address, port: 53 });
    if (out.length === 3) break;
  }
  return out;
}

/** --dns-upstreams: the host's resolv.conf nameservers, none at all, or these addresses. */
export type DnsUpstreams = { kind: 'host' } | { kind: 'none' } | { kind: 'list'; upstreams: Upstream[] };

/**
 * Parses --dns-upstreams: "host", "none" or a comma-separated list of IPv4/IPv6 addresses,
 * each optionally ":PORT" (IPv4) or "[v6]:PORT". Returns why it is invalid, or the value.
 */
export function parseDnsUpstreams(value: string): DnsUpstreams | string {
  if (value === 'host') return { kind: 'host' };
  if (value === 'none') return { kind: 'none' };
  const upstreams: Upstream[] = [];
  for (const item of value.split(',')) {
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(item) ?? /^([^:]+)(?::(\d+))?$/.exec(item);
    const address = m?.[1] ?? (isIP(item) === 6 ? item : '');
    const port = m?.[1] !== undefined && m[2] !== undefined ? Number(m[2]) : 53;
    if (isIP(address) === 0 || !Number.isInteger(port) || port < 1 || port > 65535)
      return `"${item}" is not an address (10.0.0.2, 10.0.0.2:5353, [fd00::2]:53): want host, none or a comma-separated list of addresses`;
    upstreams.push({ address, port });
  }
  return { kind: 'list', upstreams };
}
