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
