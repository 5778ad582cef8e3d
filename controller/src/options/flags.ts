// The controller's flags: each also read from FLOTILLA_<UPPER_SNAKE> in the environment
// (a flag on the command line wins), validated into typed options.
import { parseArgs } from 'node:util';
import {
  defaultClusterCidr,
  defaultClusterDomain,
  errorMessage,
  invalidArgument,
  parseLogLevel,
  validateDnsSubdomain,
  webFacingLabel,
  type LogLevel,
} from '@flotilla/common';
import { parseLabelSelector } from '../labels/labels.js';
import {
  defaultNodeCidrMaskSize,
  formatBlock,
  overlaps,
  parseBlock,
  parsePodCidrConfig,
} from '../nodes/pod-cidr.js';
import { defaultServiceCidr, parseCidr } from '../objects/service.js';
import { defaultTokenTtlMs, maxTokenTtlMs, minTokenTtlMs } from '../tokens/join-token.js';
import type { ResourceStrategy } from '../scheduler/scorers.js';
import { parseControllers, type LoopName } from './loops.js';
import {
  formatDuration,
  hostPortOfUrl,
  parseDuration,
  parseHostPort,
  parseUrls,
  type HostPort,
} from './parse.js';

export type Command = 'serve' | 'init';

interface FlagSpec {
  name: string;
  value: string;
  help: string;
  default?: string;
  multiple?: boolean;
  commands: readonly Command[];
}

const both: readonly Command[] = ['serve', 'init'];
const serveOnly: readonly Command[] = ['serve'];

export const flagSpecs: readonly FlagSpec[] = [
  {
    name: 'etcd-endpoints',
    value: 'URLS',
    default: 'http://127.0.0.1:2379',
    help: 'etcd client URLs, comma-separated',
    commands: both,
  },
  {
    name: 'nats-url',
    value: 'URLS',
    default: 'nats://127.0.0.1:4222',
    help: 'NATS server URLs the controller connects to, comma-separated',
    commands: serveOnly,
  },
  {
    name: 'nats-advertise-url',
    value: 'URLS',
    help: 'NATS URLs agents are told to use (default: --nats-url)',
    commands: serveOnly,
  },
  {
    name: 'listen',
    value: 'HOST:PORT',
    default: '127.0.0.1:7443',
    help: 'address the gRPC API listens on',
    commands: both,
  },
  {
    name: 'advertise-address',
    value: 'HOST:PORT',
    help: 'address clients dial, written into the admin config (default: --listen)',
    commands: both,
  },
  {
    name: 'tls-san',
    value: 'NAME',
    multiple: true,
    help: 'extra DNS name or IP for the serving certificate (repeatable)',
    commands: serveOnly,
  },
  {
    name: 'data-dir',
    value: 'DIR',
    default: '/var/lib/flotilla/controller',
    help: 'where ca.crt, nats-server.conf, admin.yaml and join-token are written',
    commands: both,
  },
  {
    name: 'node-grace',
    value: 'DURATION',
    default: '5s',
    help: 'silence after which a node is marked Ready=Unknown (100ms..1h)',
    commands: serveOnly,
  },
  {
    name: 'eviction-timeout',
    value: 'DURATION',
    default: '3s',
    help: 'how long a node stays NotReady before its pods are evicted (0s..1h)',
    commands: serveOnly,
  },
  {
    name: 'controllers',
    value: 'LIST',
    default: '*',
    help: 'the leader-only loops to run: * (all), NAME, -NAME, comma-separated; names: scheduler, deployments, node-lifecycle, garbage-collector, endpoints',
    commands: serveOnly,
  },
  {
    name: 'scheduler-scoring',
    value: 'STRATEGY',
    default: 'LeastAllocated',
    help: 'how the scheduler ranks nodes by use: LeastAllocated (spread load) or MostAllocated (bin-pack)',
    commands: serveOnly,
  },
  {
    name: 'nats-listen',
    value: 'HOST:PORT',
    help: 'where nats-server listens, for its configuration (default: host:port of the first --nats-url, else 127.0.0.1:4222)',
    commands: both,
  },
  {
    name: 'nats-config',
    value: 'PATH',
    help: 'nats-server configuration to write (default: DATA-DIR/nats-server.conf)',
    commands: both,
  },
  {
    name: 'admin-config',
    value: 'PATH',
    help: 'admin client config to write (default: DATA-DIR/admin.yaml)',
    commands: both,
  },
  {
    name: 'token-file',
    value: 'PATH',
    help: 'file for the join token init creates, mode 0600 (default: DATA-DIR/join-token)',
    commands: both,
  },
  {
    name: 'token-ttl',
    value: 'DURATION',
    default: '24h',
    help: 'lifetime of the join token init creates (1m..8760h)',
    commands: both,
  },
  {
    name: 'service-cidr',
    value: 'CIDR',
    default: '10.96.0.0/16',
    help: 'IPv4 range Service cluster IPs are allocated from',
    commands: serveOnly,
  },
  {
    name: 'cluster-cidr',
    value: 'CIDR',
    default: defaultClusterCidr,
    help: "IPv4 range nodes' pod CIDRs are allocated from",
    commands: serveOnly,
  },
  {
    name: 'node-cidr-mask-size',
    value: 'BITS',
    default: String(defaultNodeCidrMaskSize),
    help: "prefix length of each node's pod CIDR, within --cluster-cidr",
    commands: serveOnly,
  },
  {
    name: 'web-facing-selector',
    value: 'SELECTOR',
    default: `${webFacingLabel}=true`,
    help: 'label selector of the nodes that open Service node ports',
    commands: serveOnly,
  },
  {
    name: 'cluster-domain',
    value: 'DOMAIN',
    default: defaultClusterDomain,
    help: 'DNS domain of services: SERVICE.NAMESPACE.svc.DOMAIN',
    commands: serveOnly,
  },
  { name: 'log-level', value: 'LEVEL', default: 'info', help: 'debug, info, warn or error', commands: both },
];

export const envName = (flag: string): string => 'FLOTILLA_' + flag.toUpperCase().replaceAll('-', '_');

export interface ParsedOptions {
  etcdEndpoints: string[];
  natsUrls: string[];
  natsAdvertiseUrls?: string[];
  listen: HostPort;
  advertiseAddress?: HostPort;
  tlsSans: string[];
  dataDir: string;
  nodeGraceMs: number;
  evictionTimeoutMs: number;
  schedulerScoring: ResourceStrategy;
  controllers: Set<LoopName>;
  natsListen: HostPort;
  natsConfigPath?: string;
  adminConfigPath?: string;
  tokenFile?: string;
  tokenTtlMs: number;
  logLevel: LogLevel;
  serviceCidr: string;
  clusterCidr: string;
  nodeCidrMaskSize: number;
  webFacingSelector: string;
  clusterDomain: string;
}

export type ParsedCommand = { command: Command | 'help'; help: boolean; options?: ParsedOptions };

/** Splits argv into a command and its options; usage mistakes throw InvalidArgument. */
export function parseCommandLine(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): ParsedCommand {
  let args = [...argv];
  let command: Command = 'serve';
  const first = args[0];
  if (first === '--help' || first === '-h') return { command: 'help', help: true };
  if (first !== undefined && !first.startsWith('-')) {
    if (first === 'help') return { command: 'help', help: true };
    if (first !== 'serve' && first !== 'init') {
      throw invalidArgument(`unknown command "${first}": valid commands are serve (the default) and init`, {
        field: 'command',
        value: first,
      });
    }
    command = first;
    args = args.slice(1);
  }
  const specs = flagSpecs.filter((s) => s.commands.includes(command));
  const parseOptions: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const s of specs) parseOptions[s.name] = { type: 'string', multiple: s.multiple ?? false };
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined> };
  try {
    parsed = parseArgs({ args, options: parseOptions, strict: true, allowPositionals: false });
  } catch (err) {
    throw invalidArgument(
      `${(err as Error).message.replace(/\. To specify.*$/s, '')}; run "flotilla-controller ${command} --help" for the flags`,
    );
  }
  const values = parsed.values;
  if (values.help === true) return { command, help: true };

  const raw = (name: string): string | undefined => {
    const v = values[name];
    if (typeof v === 'string') return v;
    const fromEnv = env[envName(name)];
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
    return specs.find((s) => s.name === name)?.default;
  };
  const list = (name: string): string[] => {
    const v = values[name];
    if (Array.isArray(v))
      return v
        .flatMap((x) => String(x).split(','))
        .map((x) => x.trim())
        .filter(Boolean);
    return (env[envName(name)] ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  };
  const flag = (name: string): string => `--${name}`;

  const natsUrls = parseUrls(flag('nats-url'), raw('nats-url') ?? 'nats://127.0.0.1:4222', ['nats', 'tls']);
  const advertise = raw('advertise-address');
  const natsAdvertise = raw('nats-advertise-url');
  const natsListenRaw = raw('nats-listen');
  let natsListen: HostPort;
  if (natsListenRaw !== undefined) natsListen = parseHostPort(flag('nats-listen'), natsListenRaw);
  else natsListen = hostPortOfUrl(natsUrls[0] ?? 'nats://127.0.0.1:4222');
  let logLevel: LogLevel;
  try {
    logLevel = parseLogLevel(raw('log-level'));
  } catch {
    throw invalidArgument(`--log-level "${raw('log-level')}" is not one of debug, info, warn, error`, {
      field: '--log-level',
      value: raw('log-level'),
    });
  }
  const scoring = raw('scheduler-scoring') ?? 'LeastAllocated';
  if (scoring !== 'LeastAllocated' && scoring !== 'MostAllocated') {
    throw invalidArgument(`--scheduler-scoring "${scoring}" is not one of LeastAllocated, MostAllocated`, {
      field: '--scheduler-scoring',
      value: scoring,
    });
  }
  const dataDir = raw('data-dir') ?? '';
  if (dataDir === '') throw invalidArgument('--data-dir must not be empty', { field: '--data-dir' });
  const tlsSans = list('tls-san');
  for (const san of tlsSans) {
    if (!/^[A-Za-z0-9.:*-]+$/.test(san)) {
      throw invalidArgument(`--tls-san "${san}" is neither a DNS name nor an IP address`, {
        field: '--tls-san',
        value: san,
      });
    }
  }
  const serviceCidr = parseCidr(raw('service-cidr') ?? defaultServiceCidr, flag('service-cidr'));
  const podCidrs = parsePodCidrConfig(
    raw('cluster-cidr') ?? defaultClusterCidr,
    raw('node-cidr-mask-size') ?? String(defaultNodeCidrMaskSize),
  );
  const clusterCidr = formatBlock(podCidrs.clusterCidr);
  if (overlaps(podCidrs.clusterCidr, parseBlock(serviceCidr.text, flag('service-cidr')))) {
    throw invalidArgument(
      `--cluster-cidr "${clusterCidr}" overlaps --service-cidr "${serviceCidr.text}": pod and service addresses must not collide`,
      { field: '--cluster-cidr', value: clusterCidr },
    );
  }
  const webFacingSelector = raw('web-facing-selector') ?? '';
  try {
    parseLabelSelector(webFacingSelector);
  } catch (err) {
    throw invalidArgument(`--web-facing-selector: ${errorMessage(err)}`, {
      field: '--web-facing-selector',
      value: webFacingSelector,
    });
  }
  const clusterDomain = (raw('cluster-domain') ?? defaultClusterDomain).replace(/\.$/, '');
  const domainWhy = validateDnsSubdomain(clusterDomain);
  if (domainWhy) {
    throw invalidArgument(`--cluster-domain "${clusterDomain}" ${domainWhy}`, {
      field: '--cluster-domain',
      value: clusterDomain,
    });
  }
  const options: ParsedOptions = {
    etcdEndpoints: parseUrls(flag('etcd-endpoints'), raw('etcd-endpoints') ?? '', ['http', 'https']),
    natsUrls,
    natsAdvertiseUrls:
      natsAdvertise !== undefined
        ? parseUrls(flag('nats-advertise-url'), natsAdvertise, ['nats', 'tls'])
        : undefined,
    listen: parseHostPort(flag('listen'), raw('listen') ?? '', { allowPortZero: true }),
    advertiseAddress:
      advertise !== undefined ? parseHostPort(flag('advertise-address'), advertise) : undefined,
    tlsSans,
    dataDir,
    nodeGraceMs: parseDuration(flag('node-grace'), raw('node-grace') ?? '5s', {
      minMs: 100,
      maxMs: 3_600_000,
    }),
    evictionTimeoutMs: parseDuration(flag('eviction-timeout'), raw('eviction-timeout') ?? '3s', {
      minMs: 0,
      maxMs: 3_600_000,
    }),
    schedulerScoring: scoring,
    controllers: parseControllers(raw('controllers') ?? '*'),
    natsListen,
    natsConfigPath: raw('nats-config'),
    adminConfigPath: raw('admin-config'),
    tokenFile: raw('token-file'),
    tokenTtlMs: parseDuration(flag('token-ttl'), raw('token-ttl') ?? formatDuration(defaultTokenTtlMs), {
      minMs: minTokenTtlMs,
      maxMs: maxTokenTtlMs,
    }),
    logLevel,
    serviceCidr: serviceCidr.text,
    clusterCidr,
    nodeCidrMaskSize: podCidrs.maskSize,
    webFacingSelector,
    clusterDomain,
  };
  return { command, help: false, options };
}

const summaries: Record<Command, string> = {
  serve:
    'Serves the Flotilla API (gRPC over mTLS), ingests node heartbeats from NATS and marks silent nodes.\nOn a fresh data directory it first does what init does.',
  init: 'Creates the cluster secrets in etcd (once), and writes ca.crt, nats-server.conf, an admin client\nconfig and a join token. Run again, it reuses the secrets and writes a new admin config and token.',
};

export function usage(command?: Command): string {
  if (!command) {
    return [
      'Usage: flotilla-controller [serve|init] [flags]',
      '',
      'Commands:',
      '  serve   serve the API, ingest heartbeats, maintain node status (the default)',
      '  init    create the cluster secrets and write the files agents and the CLI need',
      '',
      'Run "flotilla-controller COMMAND --help" for its flags. Every flag can also be set',
      'with an environment variable: --node-grace is FLOTILLA_NODE_GRACE.',
      '',
    ].join('\n');
  }
  const specs = flagSpecs.filter((s) => s.commands.includes(command));
  const left = (s: FlagSpec): string => `  --${s.name} ${s.value}`;
  const width = Math.max(...specs.map((s) => left(s).length)) + 2;
  const lines = specs.map((s) => {
    const def = s.default ? ` (default ${s.default})` : '';
    return `${left(s).padEnd(width)}${s.help}${def}  [${envName(s.name)}]`;
  });
  return [
    `Usage: flotilla-controller ${command} [flags]`,
    '',
    summaries[command],
    '',
    'Flags:',
    ...lines,
    `${'  -h, --help'.padEnd(width)}show this help`,
    '',
    'Exit codes: 0 success, 1 failure, 2 usage error.',
    '',
  ].join('\n');
}
