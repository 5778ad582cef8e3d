// Probes as Kubernetes' v1.Probe, their defaults, the one validator with field-precise
// problems, the conversion from the wire form (ports are strings there) and named-port
// resolution. Shared by the controller (validation before a pod is stored) and the agents
// (before probing), so both apply the same rules. All pure.
import { invalidArgument } from '../errors/errors.js';
import { FieldProblems, type FieldProblem } from '../errors/field-problems.js';

export interface ProbeHttpHeader {
  name: string;
  value: string;
}

export interface HTTPGetAction {
  path?: string;
  /** A number, or the name of one of the container's ports. */
  port: number | string;
  /** Defaults to the pod IP. */
  host?: string;
  scheme?: 'HTTP' | 'HTTPS';
  httpHeaders?: ProbeHttpHeader[];
}

export interface TCPSocketAction {
  port: number | string;
  host?: string;
}

export interface ExecAction {
  command: string[];
}

export interface Probe {
  httpGet?: HTTPGetAction;
  tcpSocket?: TCPSocketAction;
  exec?: ExecAction;
  initialDelaySeconds?: number;
  timeoutSeconds?: number;
  periodSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export type ProbeKind = 'liveness' | 'readiness' | 'startup';

/** The spec field a kind lives in, used to prefix error messages. */
export const probeField = {
  liveness: 'livenessProbe',
  readiness: 'readinessProbe',
  startup: 'startupProbe',
} as const satisfies Record<ProbeKind, string>;

/** Kubernetes' defaults for the probe's timing fields. */
export const probeDefaults = {
  initialDelaySeconds: 0,
  timeoutSeconds: 1,
  periodSeconds: 10,
  successThreshold: 1,
  failureThreshold: 3,
} as const;

export type ProbeTiming = { [K in keyof typeof probeDefaults]: number };

/** The probe's timing fields, each as given or Kubernetes' default. */
export function probeTiming(probe: Partial<Record<keyof ProbeTiming, number | undefined>>): ProbeTiming {
  return {
    initialDelaySeconds: probe.initialDelaySeconds ?? probeDefaults.initialDelaySeconds,
    timeoutSeconds: probe.timeoutSeconds ?? probeDefaults.timeoutSeconds,
    periodSeconds: probe.periodSeconds ?? probeDefaults.periodSeconds,
    successThreshold: probe.successThreshold ?? probeDefaults.successThreshold,
    failureThreshold: probe.failureThreshold ?? probeDefaults.failureThreshold,
  };
}

/** Kubernetes' defaults for an httpGet action. */
export const httpGetDefaults = { path: '/', scheme: 'HTTP' } as const;

/** Only what a probe needs of a container port (proto ContainerPort fits). */
export interface NamedPort {
  name: string;
  containerPort: number;
}

export type ResolvedProbeAction =
  | {
      type: 'httpGet';
      scheme: 'HTTP' | 'HTTPS';
      /** undefined: the executor's target host (the pod IP). */
      host: string | undefined;
      port: number;
      path: string;
      headers: ProbeHttpHeader[];
    }
  | { type: 'tcpSocket'; host: string | undefined; port: number }
  | { type: 'exec'; command: string[] };

/** A validated probe with defaults applied and named ports resolved. */
export interface ResolvedProbe {
  kind: ProbeKind;
  action: ResolvedProbeAction;
  initialDelaySeconds: number;
  timeoutSeconds: number;
  periodSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

/** The probe as the wire carries it (@flotilla/proto's Probe fits): ports are strings, "" is unset. */
export interface WireProbe {
  exec?: { command: string[] } | undefined;
  httpGet?:
    { path: string; port: string; host: string; scheme: string; httpHeaders: ProbeHttpHeader[] } | undefined;
  tcpSocket?: { port: string; host: string } | undefined;
  initialDelaySeconds?: number | undefined;
  timeoutSeconds?: number | undefined;
  periodSeconds?: number | undefined;
  successThreshold?: number | undefined;
  failureThreshold?: number | undefined;
}

function wirePort(port: string): number | string {
  return /^\d+$/.test(port) ? Number(port) : port;
}

/**
 * The wire's Probe as the lifecycle layer's: a numeric port string ("8080") becomes a
 * number, a name stays; empty strings are left out. Unvalidated: a bad scheme is kept so
 * the validator can name the field and the value.
 */
export function probeFromWire(probe: WireProbe): Probe {
  const out: Probe = {};
  if (probe.exec !== undefined) out.exec = { command: [...probe.exec.command] };
  if (probe.httpGet !== undefined) {
    const g = probe.httpGet;
    out.httpGet = {
      port: wirePort(g.port),
      ...(g.path !== '' ? { path: g.path } : {}),
      ...(g.host !== '' ? { host: g.host } : {}),
      ...(g.httpHeaders.length > 0 ? { httpHeaders: g.httpHeaders.map((h) => ({ ...h })) } : {}),
    };
    if (g.scheme !== '') (out.httpGet as { scheme?: string }).scheme = g.scheme;
  }
  if (probe.tcpSocket !== undefined) {
    out.tcpSocket = {
      port: wirePort(probe.tcpSocket.port),
      ...(probe.tcpSocket.host !== '' ? { host: probe.tcpSocket.host } : {}),
    };
  }
  for (const field of [
    'initialDelaySeconds',
    'timeoutSeconds',
    'periodSeconds',
    'successThreshold',
    'failureThreshold',
  ] as const) {
    const value = probe[field];
    if (value !== undefined) out[field] = value;
  }
  return out;
}

// IANA_SVC_NAME as Kubernetes validates port names: 1–15 characters, lower-case letters,
// digits and "-", at least one letter, no leading/trailing or doubled "-".
const svcName = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const portNameRule =
  'at most 15 lower-case letters, digits and "-", with at least one letter, not starting or ending with "-" and without "--"';

function isPortName(value: string): boolean {
  return (
    value.length >= 1 &&
    value.length <= 15 &&
    svcName.test(value) &&
    !value.includes('--') &&
    /[a-z]/.test(value)
  );
}

/** Why value is not a valid port name (IANA_SVC_NAME), or undefined. */
export function validatePortName(value: string): string | undefined {
  return isPortName(value) ? undefined : `must be ${portNameRule}`;
}

/** One problem with a probe: the field path, the value (if any), and the whole message. */
export type ProbeProblem = FieldProblem;

function unknownPortName(field: string, port: string, containerPorts: readonly NamedPort[]): string {
  const names = containerPorts.map((p) => p.name).filter((n) => n !== '');
  return `${field}: port name ${JSON.stringify(port)} is not one of the container's ports (${names.length ? names.join(', ') : 'it names none'})`;
}

function checkPort(
  p: FieldProblems,
  port: unknown,
  field: string,
  containerPorts: readonly NamedPort[] | undefined,
): void {
  if (typeof port === 'number') {
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      p.add(field, port, 'must be between 1 and 65535');
    return;
  }
  if (typeof port !== 'string' || port === '') {
    p.missing(field, "is required: a port number or the name of one of the container's ports");
    return;
  }
  if (!isPortName(port)) {
    p.add(field, port, `must be a port number or a port name of ${portNameRule}`);
    return;
  }
  if (containerPorts !== undefined && !containerPorts.some((c) => c.name === port)) {
    p.list.push({ field, value: port, message: unknownPortName(field, port, containerPorts) });
  }
}

/**
 * Every problem with a probe, each naming its field path under prefix, the value and what
 * would be valid; empty when valid. With containerPorts, a port name must also be one of them.
 */
export function probeProblems(
  probe: Probe,
  kind: ProbeKind,
  prefix: string = probeField[kind],
  containerPorts?: readonly NamedPort[],
): ProbeProblem[] {
  const p = new FieldProblems();
  const handlers = (['httpGet', 'tcpSocket', 'exec'] as const).filter((h) => probe[h] !== undefined);
  if (handlers.length === 0) p.missing(prefix, 'must specify exactly one of httpGet, tcpSocket or exec');
  if (handlers.length > 1)
    p.missing(prefix, `must specify only one of httpGet, tcpSocket or exec, not ${handlers.join(' and ')}`);

  const minimum = (name: keyof typeof probeDefaults, min: number): void => {
    const value = probe[name];
    if (value === undefined) return;
    if (!Number.isInteger(value)) p.add(`${prefix}.${name}`, value, 'must be a whole number');
    else if (value < min) p.add(`${prefix}.${name}`, value, `must be at least ${min}`);
  };
  minimum('initialDelaySeconds', 0);
  minimum('timeoutSeconds', 1);
  minimum('periodSeconds', 1);
  minimum('successThreshold', 1);
  minimum('failureThreshold', 1);
  // A liveness or startup probe that needed several successes would only delay a restart decision.
  if (kind !== 'readiness' && probe.successThreshold !== undefined && probe.successThreshold !== 1) {
    p.add(`${prefix}.successThreshold`, probe.successThreshold, `must be 1 for a ${kind} probe`);
  }

  if (probe.httpGet) {
    const f = `${prefix}.httpGet`;
    checkPort(p, probe.httpGet.port, `${f}.port`, containerPorts);
    const path = probe.httpGet.path;
    if (path !== undefined && path !== '' && !path.startsWith('/'))
      p.add(`${f}.path`, path, 'must start with "/"');
    const scheme = probe.httpGet.scheme;
    if (scheme !== undefined && scheme !== 'HTTP' && scheme !== 'HTTPS') {
      p.add(`${f}.scheme`, scheme, 'must be HTTP or HTTPS');
    }
    (probe.httpGet.httpHeaders ?? []).forEach((h, i) => {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h.name)) {
        p.add(`${f}.httpHeaders[${i}].name`, h.name, 'must be a valid HTTP header name');
      }
      if (/[\r\n]/.test(h.value)) p.missing(`${f}.httpHeaders[${i}].value`, 'must not contain line breaks');
    });
  }
  if (probe.tcpSocket) checkPort(p, probe.tcpSocket.port, `${prefix}.tcpSocket.port`, containerPorts);
  if (probe.exec) {
    const command = probe.exec.command;
    if (!Array.isArray(command) || command.length === 0)
      p.missing(`${prefix}.exec.command`, 'must not be empty');
    else if (command[0] === '') p.missing(`${prefix}.exec.command[0]`, 'must not be empty');
  }
  return p.list;
}

/** Every problem with a probe, each as "<field path>: <value> <what is wrong>"; empty when valid. */
export function probeErrors(probe: Probe, kind: ProbeKind, prefix: string = probeField[kind]): string[] {
  return probeProblems(probe, kind, prefix).map((x) => x.message);
}

/** The number a port refers to: itself, or the containerPort of the container port with that name. */
export function resolveProbePort(
  port: number | string,
  containerPorts: readonly NamedPort[],
  field: string,
): number {
  if (typeof port === 'number') return port;
  const match = containerPorts.find((p) => p.name === port);
  if (!match) throw invalidArgument(unknownPortName(field, port, containerPorts), { field, value: port });
  return match.containerPort;
}

/** Validates, applies Kubernetes' defaults and resolves named ports; throws a FlotillaError listing every problem. */
export function resolveProbe(
  probe: Probe,
  kind: ProbeKind,
  containerPorts: readonly NamedPort[],
  prefix: string = probeField[kind],
): ResolvedProbe {
  const errors = probeErrors(probe, kind, prefix);
  if (errors.length > 0) throw invalidArgument(errors.join('; '), { field: prefix, value: probe });
  let action: ResolvedProbeAction;
  if (probe.httpGet) {
    const g = probe.httpGet;
    action = {
      type: 'httpGet',
      scheme: g.scheme ?? httpGetDefaults.scheme,
      host: g.host || undefined,
      port: resolveProbePort(g.port, containerPorts, `${prefix}.httpGet.port`),
      path: g.path || httpGetDefaults.path,
      headers: g.httpHeaders ?? [],
    };
  } else if (probe.tcpSocket) {
    action = {
      type: 'tcpSocket',
      host: probe.tcpSocket.host || undefined,
      port: resolveProbePort(probe.tcpSocket.port, containerPorts, `${prefix}.tcpSocket.port`),
    };
  } else {
    action = { type: 'exec', command: [...(probe.exec?.command ?? [])] };
  }
  return {
    kind,
    action,
    ...probeTiming(probe),
  };
}
