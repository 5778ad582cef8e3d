// The command line and FLOTILLA_* environment of flotilla-agent, into AgentOptions.
// A flag wins over its environment variable; an empty variable counts as unset.
import { isFlotillaError } from '@flotilla/common';
import { parseLabels } from '../node/labels.js';
import {
  type AgentOptions,
  defaultHeartbeatIntervalMs,
  defaultImageGcHighThresholdPercent,
  defaultImageGcLowThresholdPercent,
  defaultStateDir,
} from './types.js';
import { UsageError } from './usage-error.js';
import { parseDnsUpstreams } from '../dns/upstreams.js';
import { parseAgentListen } from '../server/listen.js';
import {
  defaultBridgeName,
  defaultCgroupParent,
  defaultNetnsPrefix,
  parseBridgeName,
  parseCgroupParent,
  parseNetnsPrefix,
  parsePodCidr,
} from '../pods/options.js';
import { defaultEndpointDrainTimeoutMs, maxEndpointDrainTimeoutMs } from '../pods/drain.js';
import {
  parseCaCertHash,
  parseDuration,
  parseHostPort,
  parseIpAddress,
  parseJoinToken,
  parseLogLevelFlag,
  parseNatsUrls,
  parseNodeName,
  parsePath,
  parsePercent,
  parseRegistryHost,
} from './validate.js';

interface FlagSpec {
  name: string;
  value: string;
  help: string;
  apply: (options: AgentOptions, value: string, flag: string) => void;
  /** May be given more than once (its environment variable then holds a comma-separated list). */
  repeatable?: boolean;
}

const flagSpecs: FlagSpec[] = [
  {
    name: 'join',
    value: 'HOST:PORT',
    help: 'controller to join through; needed for the first join only (then remembered in node.json)',
    apply: (o, v, f) => (o.join = parseHostPort(f, v)),
  },
  {
    name: 'token',
    value: 'ID.SECRET',
    help: 'join token from "deploy token create"; ignored once the node has joined',
    apply: (o, v, f) => (o.token = parseJoinToken(f, v)),
  },
  {
    name: 'ca-file',
    value: 'PATH',
    help: 'cluster CA certificate to trust for the first join',
    apply: (o, v, f) => (o.caFile = parsePath(f, v)),
  },
  {
    name: 'ca-cert-hash',
    value: 'sha256:HEX',
    help: 'or: pin of the cluster CA, as "deploy token create" prints it',
    apply: (o, v, f) => (o.caCertHash = parseCaCertHash(f, v)),
  },
  {
    name: 'state-dir',
    value: 'DIR',
    help: `where the node identity is kept (default ${defaultStateDir})`,
    apply: (o, v, f) => (o.stateDir = parsePath(f, v)),
  },
  {
    name: 'node-name',
    value: 'NAME',
    help: 'node name, a DNS-1123 subdomain (default: the host name, lowercased)',
    apply: (o, v, f) => (o.nodeName = parseNodeName(f, v)),
  },
  {
    name: 'labels',
    value: 'K=V,...',
    help: 'node labels, added to flotilla.io/hostname, flotilla.io/os and flotilla.io/arch',
    apply: (o, v, f) => (o.labels = parseLabels(v, f)),
  },
  {
    name: 'address',
    value: 'IP',
    help: "the node's InternalIP (default: the first non-loopback IPv4, else 127.0.0.1)",
    apply: (o, v, f) => (o.address = parseIpAddress(f, v)),
  },
  {
    name: 'agent-listen',
    value: 'IP:PORT',
    help: 'where the Agent service (logs, exec, attach) listens; ":PORT" = the node address, port 0 = any free port (default <address>:10250)',
    apply: (o, v, f) => (o.agentListen = parseAgentListen(f, v)),
  },
  {
    name: 'nats-url',
    value: 'URL,...',
    help: 'NATS server(s), overriding the ones the controller names',
    apply: (o, v, f) => (o.natsUrls = parseNatsUrls(f, v)),
  },
  {
    name: 'heartbeat-interval',
    value: 'DURATION',
    help: 'how often to publish a heartbeat, 100ms..60s (default 1s)',
    apply: (o, v, f) => (o.heartbeatIntervalMs = parseDuration(f, v, 100, 60_000)),
  },
  {
    name: 'image-root',
    value: 'DIR',
    help: 'where pulled images and their unpacked layers are kept (default <state-dir>/images)',
    apply: (o, v, f) => (o.imageRoot = parsePath(f, v)),
  },
  {
    name: 'image-gc-high-threshold',
    value: 'PERCENT',
    help: `disk use of the image root's filesystem that starts image GC (default ${defaultImageGcHighThresholdPercent}; 100 disables it)`,
    apply: (o, v, f) => (o.imageGcHighThresholdPercent = parsePercent(f, v)),
  },
  {
    name: 'image-gc-low-threshold',
    value: 'PERCENT',
    help: `disk use image GC frees down to (default ${defaultImageGcLowThresholdPercent}; at most the high threshold)`,
    apply: (o, v, f) => (o.imageGcLowThresholdPercent = parsePercent(f, v)),
  },
  {
    name: 'insecure-registry',
    value: 'HOST[:PORT]',
    help: 'a registry to reach over plain HTTP (loopback ones always are); repeatable',
    apply: (o, v, f) => o.insecureRegistries.push(parseRegistryHost(f, v)),
    repeatable: true,
  },
  {
    name: 'default-registry',
    value: 'HOST[:PORT]',
    help: 'registry for image names without one, e.g. "busybox" (default docker.io)',
    apply: (o, v, f) => (o.defaultRegistry = parseRegistryHost(f, v)),
  },
  {
    name: 'registry-auth-file',
    value: 'PATH',
    help: 'registry credentials, in Docker\'s config.json form ({"auths": {HOST: {"auth": base64(user:password)}}})',
    apply: (o, v, f) => (o.registryAuthFile = parsePath(f, v)),
  },
  {
    name: 'pod-cidr',
    value: 'CIDR',
    help: "the node's pod addresses to ask for at the first registration; the controller's assignment wins (default: the controller picks one)",
    apply: (o, v, f) => (o.podCidr = parsePodCidr(f, v)),
  },
  {
    name: 'cgroup-parent',
    value: 'PATH',
    help: `the cgroup every pod container of this agent lives under (default ${defaultCgroupParent})`,
    apply: (o, v, f) => (o.cgroupParent = parseCgroupParent(f, v)),
  },
  {
    name: 'runc-root',
    value: 'DIR',
    help: "runc's state directory for this agent's containers (default /run/flotilla/<node>/runc)",
    apply: (o, v, f) => (o.runcRoot = parsePath(f, v)),
  },
  {
    name: 'bridge-name',
    value: 'NAME',
    help: `the node's CNI bridge, at most 15 characters (default ${defaultBridgeName})`,
    apply: (o, v, f) => (o.bridgeName = parseBridgeName(f, v)),
  },
  {
    name: 'netns-prefix',
    value: 'PREFIX',
    help: `prefix of the pods' network namespace names (default ${defaultNetnsPrefix})`,
    apply: (o, v, f) => (o.netnsPrefix = parseNetnsPrefix(f, v)),
  },
  {
    name: 'endpoint-drain-timeout',
    value: 'DURATION',
    help: `how long a pod being removed waits to leave its services' endpoints before SIGTERM, 0s..30s, within its grace (default ${defaultEndpointDrainTimeoutMs / 1000}s; 0s: no wait)`,
    apply: (o, v, f) => (o.endpointDrainTimeoutMs = parseDuration(f, v, 0, maxEndpointDrainTimeoutMs)),
  },
  {
    name: 'dns-upstreams',
    value: 'host|none|ADDR[,ADDR]',
    help: "where the node DNS forwards names outside the cluster domain: the host's resolv.conf nameservers (host, the default), nowhere (none: only cluster names exist, NXDOMAIN for the rest), or these addresses",
    apply: (o, v, f) => {
      const parsed = parseDnsUpstreams(v);
      if (typeof parsed === 'string')
        throw new UsageError(`${f} "${v}" is not valid: ${parsed}`, { field: f, value: v });
      o.dnsUpstreams = parsed;
    },
  },
  {
    name: 'log-level',
    value: 'LEVEL',
    help: 'debug, info, warn or error (default info)',
    apply: (o, v, f) => (o.logLevel = parseLogLevelFlag(f, v)),
  },
];

export function envName(flag: string): string {
  return 'FLOTILLA_' + flag.toUpperCase().replaceAll('-', '_');
}

export type AgentCommand =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; options: AgentOptions }
  /** `flotilla-agent reset [flags]`: remove every pod and what the node's networking made (same flags). */
  | { kind: 'reset'; options: AgentOptions };

function applyValidated(spec: FlagSpec, options: AgentOptions, value: string, source: string): void {
  try {
    spec.apply(options, value, source);
  } catch (err) {
    // Validators shared with other layers throw InvalidArgument; here it is a usage error.
    if (isFlotillaError(err, 'InvalidArgument') && !(err instanceof UsageError)) {
      throw new UsageError(
        err.message.startsWith(source) ? err.message : `${source}: ${err.message}`,
        err.context,
      );
    }
    throw err;
  }
}

export function parseAgentArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): AgentCommand {
  if (argv[0] === 'reset') {
    const rest = parseAgentArgs(argv.slice(1), env);
    return rest.kind === 'run' ? { kind: 'reset', options: rest.options } : rest;
  }
  const options: AgentOptions = {
    stateDir: defaultStateDir,
    labels: {},
    heartbeatIntervalMs: defaultHeartbeatIntervalMs,
    logLevel: 'info',
    imageGcHighThresholdPercent: defaultImageGcHighThresholdPercent,
    imageGcLowThresholdPercent: defaultImageGcLowThresholdPercent,
    insecureRegistries: [],
  };
  const byName = new Map(flagSpecs.map((s) => [s.name, s]));
  const given = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (arg === '--version') return { kind: 'version' };
    if (!arg.startsWith('--')) {
      throw new UsageError(`unexpected argument "${arg}": flotilla-agent takes only flags (see --help)`, {
        value: arg,
      });
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = byName.get(name);
    if (!spec) {
      throw new UsageError(
        `unknown flag --${name}; valid flags: ${flagSpecs.map((s) => `--${s.name}`).join(', ')}, --help, --version`,
        { field: `--${name}` },
      );
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || (value.startsWith('--') && value.length > 2)) {
        throw new UsageError(`--${name} needs a value: --${name} ${spec.value}`, { field: `--${name}` });
      }
      i++;
    }
    const values = given.get(name);
    if (values === undefined) given.set(name, [value]);
    else if (spec.repeatable) values.push(value);
    else throw new UsageError(`--${name} is given twice`, { field: `--${name}` });
  }
  for (const spec of flagSpecs) {
    const flagValues = given.get(spec.name);
    if (flagValues !== undefined) {
      for (const v of flagValues) applyValidated(spec, options, v, `--${spec.name}`);
      continue;
    }
    const envValue = env[envName(spec.name)];
    if (envValue === undefined || envValue === '') continue;
    const envValues = spec.repeatable ? envValue.split(',').map((v) => v.trim()) : [envValue];
    for (const v of envValues) applyValidated(spec, options, v, envName(spec.name));
  }
  if (options.imageGcLowThresholdPercent > options.imageGcHighThresholdPercent) {
    throw new UsageError(
      `--image-gc-low-threshold ${options.imageGcLowThresholdPercent} is above --image-gc-high-threshold ${options.imageGcHighThresholdPercent}: the low threshold must be at most the high one`,
      { field: '--image-gc-low-threshold', value: options.imageGcLowThresholdPercent },
    );
  }
  return { kind: 'run', options };
}

export function helpText(): string {
  const width = Math.max(...flagSpecs.map((s) => s.name.length + s.value.length + 3));
  const lines = flagSpecs.map((s) => `  ${`--${s.name} ${s.value}`.padEnd(width + 1)} ${s.help}`);
  return [
    'flotilla-agent: runs on every host of a Flotilla cluster.',
    '',
    'It joins the cluster once (a join token and a way to trust the controller), keeps its',
    'identity in the state directory, registers its node, follows the pods assigned to it and',
    'publishes heartbeats on NATS.',
    '',
    'Usage:',
    '  flotilla-agent --join HOST:PORT --token ID.SECRET --ca-cert-hash sha256:HEX [flags]   first start',
    '  flotilla-agent [--state-dir DIR] [flags]                                               later starts',
    '  flotilla-agent reset [flags]    remove every pod of this agent (containers, conmon, mounts, netns,',
    '                                  CNI leases and rules, cgroups, records) and the bridge; agent stopped',
    '',
    'Flags (each also from the environment, e.g. --state-dir from FLOTILLA_STATE_DIR):',
    ...lines,
    `  ${'--help'.padEnd(width + 1)} show this help`,
    `  ${'--version'.padEnd(width + 1)} print the agent version`,
    '',
    'Exit codes: 0 stopped by SIGTERM/SIGINT, 1 failure (e.g. join refused), 2 usage error.',
  ].join('\n');
}
