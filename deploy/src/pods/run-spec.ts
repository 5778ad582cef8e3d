// `deploy run`'s flags -> the Pod it creates. Pure: every value the user can get wrong is
// checked here and reported as a UsageError naming the flag, the value and what is valid.
//
// Conventions (shared with the controller and the agent): one container named like the
// pod, restartPolicy from --restart, `flotilla.io/auto-remove: "true"` for --rm. COMMAND
// and ARGs replace the image's Cmd and keep its Entrypoint, as docker does: in Kubernetes
// terms they are the container's `args`.
import { validateDnsLabel, validateDnsSubdomain } from '@flotilla/common';
import { Pod } from '@flotilla/proto';
import { UsageError } from '../cli/usage-error.js';
import { checkReference } from '../images/args.js';

/** docker's default time between SIGTERM and SIGKILL on stop. */
export const defaultStopTimeoutSeconds = 10;

export const autoRemoveAnnotation = 'flotilla.io/auto-remove';
export const restartedAtAnnotation = 'flotilla.io/restartedAt';

export const restartPolicies: Record<string, string> = {
  no: 'Never',
  'on-failure': 'OnFailure',
  always: 'Always',
};

export const pullPolicies: Record<string, string> = {
  always: 'Always',
  missing: 'IfNotPresent',
  never: 'Never',
};

export interface RunOptions {
  name?: string;
  detach: boolean;
  rm: boolean;
  interactive: boolean;
  tty: boolean;
  publish: readonly string[];
  volumes: readonly string[];
  env: readonly string[];
  /** The --env-file files, read by the caller, in the order given. */
  envFiles: readonly { path: string; text: string }[];
  memory?: string;
  cpus?: string;
  /** no, on-failure or always (the parser checked the enum). */
  restart: string;
  node?: string;
  namespace: string;
  pull?: string;
  /** Seconds between SIGTERM and SIGKILL (docker's --stop-timeout, default 10). */
  stopTimeout: number;
  image: string;
  /** COMMAND [ARG…]: the container's args. */
  command: readonly string[];
}

export interface PortMapping {
  containerPort: number;
  hostPort: number;
  hostIP: string;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

export interface VolumeSpec {
  /** Absolute host path, or undefined for an anonymous volume (-v /data: an emptyDir). */
  hostPath?: string;
  mountPath: string;
  readOnly: boolean;
}

type Result<T> = { ok: true; value: T } | { ok: false; reason: string };

/** A pod name that is also a valid container name: a DNS-1123 label (@flotilla/common's rule). */
export function checkPodName(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (validateDnsLabel(name) !== undefined) {
    return (
      'must be a DNS-1123 label: at most 63 lower case letters, digits and "-", ' +
      'starting and ending with a letter or digit, such as web-1'
    );
  }
  return undefined;
}

function parsePortNumber(text: string, what: string): Result<number[]> {
  const range = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!range) return { ok: false, reason: `the ${what} port "${text}" is not a number from 1 to 65535` };
  const first = Number(range[1]);
  const last = range[2] === undefined ? first : Number(range[2]);
  for (const n of [first, last]) {
    if (!Number.isInteger(n) || n < 1 || n > 65535) {
      return { ok: false, reason: `the ${what} port ${n} is outside 1 to 65535` };
    }
  }
  if (last < first) return { ok: false, reason: `the ${what} port range ${text} ends before it starts` };
  return { ok: true, value: Array.from({ length: last - first + 1 }, (_, i) => first + i) };
}

const ipv4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** -p [IP:]HOST:CONTAINER[/tcp|udp|sctp], with ranges (8000-8001:80-81) as docker takes them. */
export function parsePublish(text: string): Result<PortMapping[]> {
  const form = '[IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp|sctp], such as 8080:80 or 127.0.0.1:8080:80/tcp';
  let rest = text;
  let protocol: PortMapping['protocol'] = 'TCP';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const proto = rest.slice(slash + 1).toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') {
      return { ok: false, reason: `the protocol "${rest.slice(slash + 1)}" is not tcp, udp or sctp` };
    }
    protocol = proto.toUpperCase() as PortMapping['protocol'];
    rest = rest.slice(0, slash);
  }
  let hostIP = '';
  const bracket = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(rest);
  let parts: string[];
  if (bracket) {
    hostIP = bracket[1] ?? '';
    parts = (bracket[2] ?? '').split(':');
    if (parts.length !== 2) return { ok: false, reason: `it must be ${form}` };
  } else {
    parts = rest.split(':');
    if (parts.length === 3) {
      hostIP = parts.shift() ?? '';
      if (!ipv4.test(hostIP)) return { ok: false, reason: `"${hostIP}" is not an IPv4 address` };
    } else if (parts.length !== 2) {
      return parts.length === 1 && /^\d+(-\d+)?$/.test(parts[0] ?? '')
        ? {
            ok: false,
            reason: `a host port is needed (Flotilla does not pick one at random): ${form}`,
          }
        : { ok: false, reason: `it must be ${form}` };
    }
  }
  const [hostText = '', containerText = ''] = parts;
  if (hostText === '') {
    return { ok: false, reason: `a host port is needed (Flotilla does not pick one at random): ${form}` };
  }
  const host = parsePortNumber(hostText, 'host');
  if (!host.ok) return host;
  const container = parsePortNumber(containerText, 'container');
  if (!container.ok) return container;
  if (host.value.length !== container.value.length) {
    return {
      ok: false,
      reason: `the host range ${hostText} and the container range ${containerText} differ in length`,
    };
  }
  return {
    ok: true,
    value: container.value.map((containerPort, i) => ({
      containerPort,
      hostPort: host.value[i] ?? 0,
      hostIP,
      protocol,
    })),
  };
}

/** -v HOST_PATH:CONTAINER_PATH[:ro|rw], or -v CONTAINER_PATH for an anonymous volume. */
export function parseVolume(text: string): Result<VolumeSpec> {
  const form = 'HOST_PATH:CONTAINER_PATH[:ro|rw] with absolute paths, such as /srv/www:/www:ro';
  const parts = text.split(':');
  if (parts.some((p) => p === '')) return { ok: false, reason: `it must be ${form}` };
  if (parts.length === 1) {
    const [mountPath = ''] = parts;
    if (!mountPath.startsWith('/')) {
      return { ok: false, reason: `the container path "${mountPath}" must be absolute; ${form}` };
    }
    return { ok: true, value: { mountPath, readOnly: false } };
  }
  if (parts.length > 3) return { ok: false, reason: `it must be ${form}` };
  const [hostPath = '', mountPath = '', mode] = parts;
  let readOnly = false;
  if (mode !== undefined) {
    const flags = mode.split(',');
    for (const flag of flags) {
      if (flag === 'ro') readOnly = true;
      else if (flag !== 'rw') {
        return { ok: false, reason: `the mode "${mode}" is not ro or rw` };
      }
    }
    if (flags.includes('ro') && flags.includes('rw')) {
      return { ok: false, reason: `the mode "${mode}" says both ro and rw` };
    }
  }
  if (!hostPath.startsWith('/')) {
    return {
      ok: false,
      reason: `the host path "${hostPath}" must be absolute (named volumes are not supported); ${form}`,
    };
  }
  if (!mountPath.startsWith('/')) {
    return { ok: false, reason: `the container path "${mountPath}" must be absolute; ${form}` };
  }
  if (mountPath.split('/').includes('..')) {
    return { ok: false, reason: `the container path "${mountPath}" must not contain ".."` };
  }
  return { ok: true, value: { hostPath: normalizePath(hostPath), mountPath, readOnly } };
}

function normalizePath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

const memoryUnits: Record<string, number> = { b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };
/** Docker's smallest memory limit. */
export const minMemoryBytes = 6 * 2 ** 20;

/** --memory as docker reads it (b, k, m, g; binary; no unit = bytes) -> bytes. */
export function parseMemory(text: string): Result<number> {
  const reason = 'a size such as 256m, 1g or 512k (units b, k, m, g; binary)';
  const match = /^(\d+(?:\.\d+)?)\s*([bkmg])?b?$/i.exec(text.trim());
  if (!match) return { ok: false, reason };
  const bytes = Math.floor(Number(match[1]) * (memoryUnits[(match[2] ?? 'b').toLowerCase()] ?? 1));
  if (bytes < minMemoryBytes) return { ok: false, reason: "at least 6m (docker's smallest limit)" };
  return { ok: true, value: bytes };
}

/** Bytes as a Kubernetes quantity: "256Mi" when whole, else the bytes. */
export function memoryQuantity(bytes: number): string {
  for (const [unit, size] of [
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ] as const) {
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

/** --cpus 0.5 -> 500 millicores. */
export function parseCpus(text: string): Result<number> {
  const reason = 'a number of CPUs such as 0.5 or 2, at least 0.001';
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text.trim())) return { ok: false, reason };
  const milli = Math.round(Number(text) * 1000);
  if (milli < 1) return { ok: false, reason };
  return { ok: true, value: milli };
}

const badEnvName = /[\s=]/;

/**
 * -e NAME=VALUE, or -e NAME to take the value from this environment (left out when it is
 * not set there, as docker does).
 */
export function parseEnvAssignment(
  text: string,
  env: NodeJS.ProcessEnv,
): Result<{ name: string; value: string } | undefined> {
  const eq = text.indexOf('=');
  const name = eq >= 0 ? text.slice(0, eq) : text;
  if (name === '' || badEnvName.test(name)) {
    return {
      ok: false,
      reason: 'NAME=VALUE (or NAME, taken from this environment) with a NAME without blanks or "="',
    };
  }
  if (eq >= 0) return { ok: true, value: { name, value: text.slice(eq + 1) } };
  const value = env[name];
  return { ok: true, value: value === undefined ? undefined : { name, value } };
}

/** A Docker env file: NAME=VALUE or NAME lines; blank lines and lines starting with # are skipped. */
export function parseEnvFile(
  text: string,
  env: NodeJS.ProcessEnv,
): Result<{ name: string; value: string }[]> {
  const vars: { name: string; value: string }[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const parsed = parseEnvAssignment(line, env);
    if (!parsed.ok) return { ok: false, reason: `line ${index + 1} "${raw}": must be ${parsed.reason}` };
    if (parsed.value) vars.push(parsed.value);
  }
  return { ok: true, value: vars };
}

function invalid(commandPath: string, flag: string, value: string, reason: string): UsageError {
  return new UsageError(`invalid value "${value}" for flag ${flag}: ${reason}`, commandPath, {
    field: flag.replace(/^.*--/, ''),
    value,
  });
}

/** The pod `deploy run` creates; name is --name or the generated one. */
export function buildRunPod(
  opts: RunOptions,
  name: string,
  env: NodeJS.ProcessEnv,
  commandPath: string,
): Pod {
  const nameProblem = checkPodName(name);
  if (nameProblem) throw invalid(commandPath, '--name', name, nameProblem);
  const nsProblem = checkPodName(opts.namespace);
  if (nsProblem) throw invalid(commandPath, '--namespace', opts.namespace, nsProblem);
  if (opts.image === '') throw new UsageError(`"${commandPath}" needs an IMAGE`, commandPath);
  const image = checkReference(opts.image);
  if (!image.ok) {
    throw new UsageError(`invalid IMAGE "${opts.image}": ${image.problem}`, commandPath, {
      field: 'IMAGE',
      value: opts.image,
    });
  }
  if (opts.rm && opts.restart !== 'no') {
    throw new UsageError(
      `conflicting options --rm and --restart ${opts.restart}: a pod that restarts is never removed on exit; drop one of them`,
      commandPath,
      { field: 'rm' },
    );
  }
  if (opts.node !== undefined) {
    const problem = validateDnsSubdomain(opts.node);
    if (problem) {
      throw invalid(commandPath, '--node', opts.node, `${problem} (a node name, see "deploy nodes")`);
    }
  }

  const ports: PortMapping[] = [];
  for (const text of opts.publish) {
    const parsed = parsePublish(text);
    if (!parsed.ok) throw invalid(commandPath, '-p/--publish', text, parsed.reason);
    for (const port of parsed.value) {
      const clash = ports.find(
        (p) =>
          p.hostPort === port.hostPort &&
          p.protocol === port.protocol &&
          (p.hostIP === port.hostIP || p.hostIP === '' || port.hostIP === ''),
      );
      if (clash) {
        throw invalid(
          commandPath,
          '-p/--publish',
          text,
          `host port ${port.hostPort}/${port.protocol.toLowerCase()} is already published by another -p`,
        );
      }
      ports.push(port);
    }
  }

  const volumes: VolumeSpec[] = [];
  for (const text of opts.volumes) {
    const parsed = parseVolume(text);
    if (!parsed.ok) throw invalid(commandPath, '-v/--volume', text, parsed.reason);
    if (volumes.some((v) => v.mountPath === parsed.value.mountPath)) {
      throw invalid(
        commandPath,
        '-v/--volume',
        text,
        `${parsed.value.mountPath} is already mounted by another -v (duplicate mount point)`,
      );
    }
    volumes.push(parsed.value);
  }

  const vars = new Map<string, string>();
  for (const file of opts.envFiles) {
    const parsed = parseEnvFile(file.text, env);
    if (!parsed.ok) throw invalid(commandPath, '--env-file', file.path, parsed.reason);
    for (const v of parsed.value) vars.set(v.name, v.value);
  }
  for (const text of opts.env) {
    const parsed = parseEnvAssignment(text, env);
    if (!parsed.ok) throw invalid(commandPath, '-e/--env', text, `must be ${parsed.reason}`);
    if (parsed.value) vars.set(parsed.value.name, parsed.value.value);
  }

  const limits: Record<string, string> = {};
  if (opts.memory !== undefined) {
    const parsed = parseMemory(opts.memory);
    if (!parsed.ok) throw invalid(commandPath, '-m/--memory', opts.memory, `must be ${parsed.reason}`);
    limits.memory = memoryQuantity(parsed.value);
  }
  if (opts.cpus !== undefined) {
    const parsed = parseCpus(opts.cpus);
    if (!parsed.ok) throw invalid(commandPath, '--cpus', opts.cpus, `must be ${parsed.reason}`);
    limits.cpu = `${parsed.value}m`;
  }

  if (!Number.isInteger(opts.stopTimeout) || opts.stopTimeout < 0) {
    throw invalid(
      commandPath,
      '--stop-timeout',
      String(opts.stopTimeout),
      'must be a whole number of seconds, 0 or more',
    );
  }
  const restartPolicy = restartPolicies[opts.restart];
  if (restartPolicy === undefined) {
    throw invalid(commandPath, '--restart', opts.restart, 'must be one of no, on-failure or always');
  }
  // Docker's default is --pull missing: an image already on the node runs as it is, even
  // :latest (Kubernetes would ask the registry for :latest every time).
  let imagePullPolicy = 'IfNotPresent';
  if (opts.pull !== undefined) {
    const policy = pullPolicies[opts.pull];
    if (policy === undefined) {
      throw invalid(commandPath, '--pull', opts.pull, 'must be one of always, missing or never');
    }
    imagePullPolicy = policy;
  }

  const annotations: Record<string, string> = {};
  if (opts.rm) annotations[autoRemoveAnnotation] = 'true';

  return Pod.fromJSON({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: opts.namespace, annotations },
    spec: {
      restartPolicy,
      terminationGracePeriodSeconds: opts.stopTimeout,
      ...(opts.node !== undefined ? { nodeName: opts.node } : {}),
      volumes: volumes.map((v, i) => ({
        name: `volume-${i + 1}`,
        ...(v.hostPath !== undefined ? { hostPath: { path: v.hostPath, type: '' } } : { emptyDir: {} }),
      })),
      containers: [
        {
          name,
          image: opts.image,
          args: [...opts.command],
          ports: ports.map((p) => ({
            containerPort: p.containerPort,
            hostPort: p.hostPort,
            hostIP: p.hostIP,
            protocol: p.protocol,
          })),
          env: [...vars].map(([n, value]) => ({ name: n, value })),
          resources: { limits, requests: {} },
          imagePullPolicy,
          volumeMounts: volumes.map((v, i) => ({
            name: `volume-${i + 1}`,
            mountPath: v.mountPath,
            readOnly: v.readOnly,
          })),
          stdin: opts.interactive,
          stdinOnce: opts.interactive && !opts.detach,
          tty: opts.tty,
        },
      ],
    },
  });
}

const adjectives = [
  'admiring',
  'agitated',
  'amazing',
  'bold',
  'brave',
  'busy',
  'clever',
  'cool',
  'dazzling',
  'eager',
  'elated',
  'epic',
  'festive',
  'focused',
  'friendly',
  'gallant',
  'gifted',
  'happy',
  'hopeful',
  'jolly',
  'keen',
  'kind',
  'lucid',
  'magical',
  'modest',
  'nifty',
  'nostalgic',
  'peaceful',
  'quirky',
  'relaxed',
  'serene',
  'sharp',
  'stoic',
  'sweet',
  'tender',
  'trusting',
  'upbeat',
  'vibrant',
  'wizardly',
  'zealous',
] as const;

const nouns = [
  'albattani',
  'babbage',
  'banach',
  'bohr',
  'curie',
  'darwin',
  'dijkstra',
  'einstein',
  'euler',
  'fermat',
  'feynman',
  'galileo',
  'gauss',
  'goldberg',
  'hopper',
  'hypatia',
  'johnson',
  'kepler',
  'knuth',
  'lamarr',
  'lovelace',
  'mayer',
  'mccarthy',
  'meitner',
  'newton',
  'noether',
  'pascal',
  'ritchie',
  'shannon',
  'thompson',
  'torvalds',
  'turing',
  'wozniak',
  'yalow',
] as const;

/** A docker-like name made DNS-1123-safe: "eager-hopper"; with a suffix "eager-hopper-x7k2". */
export function randomPodName(random: () => number, withSuffix = false): string {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length) % list.length] as T;
  const base = `${pick(adjectives)}-${pick(nouns)}`;
  if (!withSuffix) return base;
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const suffix = Array.from({ length: 4 }, () => pick([...alphabet])).join('');
  return `${base}-${suffix}`;
}
