// Where the Agent service listens: --agent-listen, pure.
import { isIP } from 'node:net';
import { UsageError } from '../options/usage-error.js';
/** Kubernetes' kubelet port. */
export const defaultAgentPort = 10250;

export interface AgentListen {
  /** An IP address to bind; absent means the node's InternalIP. */
  host?: string;
  /** 0 asks the system for a free port. */
  port: number;
}

/** "IP:PORT", "[IPv6]:PORT" or ":PORT" (the node's address); port 0 = any free port. */
export function parseAgentListen(flag: string, value: string): AgentListen {
  const valid = `want IP:PORT or :PORT (the node's address), e.g. 10.0.0.5:${defaultAgentPort}, :${defaultAgentPort} or 127.0.0.1:0 (0: any free port)`;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const host = m?.[1] ?? m?.[2] ?? '';
  const port = Number(m?.[3]);
  if (!m || port > 65535) {
    throw new UsageError(`${flag} "${value}" is not valid: ${valid}`, { field: flag, value });
  }
  // Brackets are for IPv6 only; anything else must be an IP address, not a name.
  if ((m[1] !== undefined && isIP(host) !== 6) || (host !== '' && isIP(host) === 0)) {
    throw new UsageError(`${flag} "${value}" is not valid: ${host} is not an IP address here; ${valid}`, {
      field: flag,
      value,
    });
  }
  return host === '' ? { port } : { host, port };
}

/** The address to bind: the flag's host, else the node's InternalIP. */
export function agentListenAddress(
  listen: AgentListen | undefined,
  nodeAddress: string,
): AgentListen & { host: string } {
  return { host: listen?.host ?? nodeAddress, port: listen?.port ?? defaultAgentPort };
}
