import type { LogLevel } from '@flotilla/common';

/** Everything the agent is told, after validation. Absent means "not given". */
export interface AgentOptions {
  /** Where the node's identity lives (keys, certificates, node.json). */
  stateDir: string;
  /** host:port of a controller; needed for the first join, then remembered in node.json. */
  join?: string;
  /** "<id>.<secret>"; used only when there is no identity yet. */
  token?: string;
  /** Trust for the first join: a CA certificate file ... */
  caFile?: string;
  /** ... or the pin of the CA the controller presents, "sha256:<hex>". */
  caCertHash?: string;
  nodeName?: string;
  /** Labels given by the operator; the agent adds its flotilla.io/* defaults. */
  labels: Record<string, string>;
  /** The node's InternalIP; default: the host's first non-loopback IPv4. */
  address?: string;
  /** Overrides the NATS URLs the controller hands out. */
  natsUrls?: string[];
  heartbeatIntervalMs: number;
  logLevel: LogLevel;
}

export const defaultStateDir = '/var/lib/flotilla/agent';
export const defaultHeartbeatIntervalMs = 1_000;
