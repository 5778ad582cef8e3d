// Whether a pod's host ports are free on this node, checked before portmap's DNAT rules
// are made: a DNAT rule would silently steal (or lose) traffic from a process listening on
// the same port, so a taken port is refused with a message instead.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { failedPrecondition } from '@flotilla/common';
import type { PortMapping } from '../network/config.js';

/** The addresses to try for one mapping: its own (or 0.0.0.0), and loopback, which portmap also serves. */
export function bindTargets(mapping: PortMapping): string[] {
  const host = mapping.hostIP ?? '0.0.0.0';
  return host === '0.0.0.0' || host.startsWith('127.') ? [...new Set([host, '127.0.0.1'])] : [host];
}

function tryBind(protocol: PortMapping['protocol'], host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    if (protocol === 'udp') {
      const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      socket.once('error', (err: NodeJS.ErrnoException) => {
        socket.close();
        resolve(err.code ?? err.message);
      });
      socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve(undefined)));
      return;
    }
    // SCTP cannot be probed from Node; TCP stands in for it.
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** Throws FailedPrecondition naming the first host port something on this node holds. */
export async function checkHostPortsFree(object: string, mappings: readonly PortMapping[]): Promise<void> {
  for (const m of mappings) {
    for (const host of bindTargets(m)) {
      const problem = await tryBind(m.protocol, host, m.hostPort);
      // EADDRNOTAVAIL: the node has no such address; portmap would not match it either.
      if (problem === undefined || problem === 'EADDRNOTAVAIL') continue;
      throw failedPrecondition(
        `host port ${m.hostPort}/${m.protocol.toUpperCase()} on ${host} is already in use on this node (${problem}): ` +
          'stop what listens there or choose another hostPort',
        { object, field: 'ports.hostPort', value: m.hostPort },
      );
    }
  }
}

/** A mapping of another pod on this node that claims the same host port, if any. */
export function clashingMapping(
  mine: readonly PortMapping[],
  others: ReadonlyMap<string, readonly PortMapping[]>,
): { pod: string; mapping: PortMapping } | undefined {
  for (const m of mine) {
    for (const [pod, theirs] of others) {
      const clash = theirs.find(
        (o) =>
          o.protocol === m.protocol &&
          o.hostPort === m.hostPort &&
          (o.hostIP === undefined || m.hostIP === undefined || o.hostIP === m.hostIP),
      );
      if (clash !== undefined) return { pod, mapping: clash };
    }
  }
  return undefined;
}
