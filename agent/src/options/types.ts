import type { DnsUpstreams } from '../dns/upstreams.js';
import type { LogLevel } from '@flotilla/common';
import type { AgentListen } from '../server/listen.js';

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
  /** Where the Agent gRPC service listens (--agent-listen); default the node's address, port 10250. */
  agentListen?: AgentListen;
  /** Overrides the NATS URLs the controller hands out. */
  natsUrls?: string[];
  heartbeatIntervalMs: number;
  logLevel: LogLevel;
  /** Where pulled images live (content store, image names, snapshots); default <stateDir>/images. */
  imageRoot?: string;
  /** Disk use (percent of the filesystem holding imageRoot) above which image GC starts. */
  imageGcHighThresholdPercent: number;
  /** ... and the use it frees down to. Never above the high threshold. */
  imageGcLowThresholdPercent: number;
  /** Registries ("host[:port]") dialled over plain HTTP, besides loopback ones. */
  insecureRegistries: string[];
  /** Registry for image names without one ("busybox"); Docker Hub when absent. */
  defaultRegistry?: string;
  /** Registry credentials in Docker's config.json form ({ "auths": { HOST: { "auth": … } } }). */
  registryAuthFile?: string;
  /** The pod CIDR to request at the first registration (the controller's answer wins). */
  podCidr?: string;
  /** The cgroup every pod of this agent lives under (default /flotilla). */
  cgroupParent?: string;
  /** runc's state directory (default /run/flotilla/<node>/runc). */
  runcRoot?: string;
  /** The node's CNI bridge (default flt0); the CNI network is flotilla-<bridge>. */
  bridgeName?: string;
  /** Prefix of the pods' netns names (default flt). */
  netnsPrefix?: string;
  /** How long a pod being removed waits for the endpoints drain before SIGTERM (default 10 s; 0: none). */
  endpointDrainTimeoutMs?: number;
  /**
   * Where the node DNS sends names outside the cluster domain (default: the host's
   * resolv.conf nameservers; none: only cluster names exist, NXDOMAIN for the rest, as tests on closed networks need).
   */
  dnsUpstreams?: DnsUpstreams;
}

export const defaultStateDir = '/var/lib/flotilla/agent';
export const defaultHeartbeatIntervalMs = 1_000;
/** kubelet's defaults for --image-gc-high-threshold and --image-gc-low-threshold. */
export const defaultImageGcHighThresholdPercent = 85;
export const defaultImageGcLowThresholdPercent = 80;
