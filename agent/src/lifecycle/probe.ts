// Probes as Kubernetes' v1.Probe (the proto has no probe messages yet), their defaults,
// a validator with field-precise errors, and named-port resolution. All pure.

import { invalidArgument } from '@flotilla/common';

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
export const probeField: Record<ProbeKind, string> = {
  liveness: 'livenessProbe',
  readiness: 'readinessProbe',
  startup: 'startupProbe',
};

export const probeDefaults = {
  initialDelaySeconds: 0,
  timeoutSeconds: 1,
  periodSeconds: 10,
  successThreshold: 1,
  failureThreshold: 3,
} as const;

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

// IANA_SVC_NAME as Kubernetes validates it: 1–15 characters, lower-case letters, digits
// and "-", at least one letter, no leading/trailing or doubled "-".
const svcName = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

function portErrors(port: unknown, field: string): string[] {
  if (typeof port === 'number') {
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      return [`${field}: ${port} must be between 1 and 65535`];
    return [];
  }
  if (typeof port === 'string') {
    if (
      port.length < 1 ||
      port.length > 15 ||
      !svcName.test(port) ||
      port.includes('--') ||
      !/[a-z]/.test(port)
    ) {
      return [
        `${field}: ${JSON.stringify(port)} must be a port number or a port name of at most 15 lower-case letters, digits and "-", with at least one letter`,
      ];
    }
    return [];
  }
  return [`${field}: must be set`];
}

/** Every problem with a probe, each as "<field path>: <value> <what is wrong>"; empty when valid. */
export function probeErrors(probe: Probe, kind: ProbeKind, prefix = probeField[kind]): string[] {
  const errors: string[] = [];
  const handlers = (['httpGet', 'tcpSocket', 'exec'] as const).filter((h) => probe[h] !== undefined);
  if (handlers.length === 0) errors.push(`${prefix}: must specify one of httpGet, tcpSocket or exec`);
  if (handlers.length > 1)
    errors.push(
      `${prefix}: must specify only one of httpGet, tcpSocket or exec, not ${handlers.join(' and ')}`,
    );

  const minimum = (name: keyof typeof probeDefaults, min: number): void => {
    const value = probe[name];
    if (value === undefined) return;
    if (!Number.isInteger(value)) errors.push(`${prefix}.${name}: ${value} must be a whole number`);
    else if (value < min) errors.push(`${prefix}.${name}: ${value} must be at least ${min}`);
  };
  minimum('initialDelaySeconds', 0);
  minimum('timeoutSeconds', 1);
  minimum('periodSeconds', 1);
  minimum('successThreshold', 1);
  minimum('failureThreshold', 1);
  // A liveness or startup probe that needed several successes would only delay a restart decision.
  if (kind !== 'readiness' && probe.successThreshold !== undefined && probe.successThreshold !== 1) {
    errors.push(`${prefix}.successThreshold: ${probe.successThreshold} must be 1 for a ${kind} probe`);
  }

  if (probe.httpGet) {
    const f = `${prefix}.httpGet`;
    errors.push(...portErrors(probe.httpGet.port, `${f}.port`));
    const path = probe.httpGet.path;
    if (path !== undefined && path !== '' && !path.startsWith('/'))
      errors.push(`${f}.path: ${JSON.stringify(path)} must start with "/"`);
    const scheme = probe.httpGet.scheme;
    if (scheme !== undefined && scheme !== 'HTTP' && scheme !== 'HTTPS') {
      errors.push(`${f}.scheme: ${JSON.stringify(scheme)} must be HTTP or HTTPS`);
    }
    (probe.httpGet.httpHeaders ?? []).forEach((h, i) => {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h.name)) {
        errors.push(
          `${f}.httpHeaders[${i}].name: ${JSON.stringify(h.name)} must be a valid HTTP header name`,
        );
      }
      if (/[\r\n]/.test(h.value)) errors.push(`${f}.httpHeaders[${i}].value: must not contain line breaks`);
    });
  }
  if (probe.tcpSocket) errors.push(...portErrors(probe.tcpSocket.port, `${prefix}.tcpSocket.port`));
  if (probe.exec) {
    const command = probe.exec.command;
    if (!Array.isArray(command) || command.length === 0)
      errors.push(`${prefix}.exec.command: must not be empty`);
    else if (command[0] === '') errors.push(`${prefix}.exec.command[0]: must not be empty`);
  }
  return errors;
}

/** The number a port refers to: itself, or the containerPort of the container port with that name. */
export function resolveProbePort(
  port: number | string,
  containerPorts: readonly NamedPort[],
  field: string,
): number {
  if (typeof port === 'number') return port;
  const match = containerPorts.find((p) => p.name === port);
  if (!match) {
    const names = containerPorts.map((p) => p.name).filter((n) => n !== '');
    throw invalidArgument(
      `${field}: port name ${JSON.stringify(port)} is not one of the container's ports (${names.length ? names.join(', ') : 'it names none'})`,
      { field, value: port },
    );
  }
  return match.containerPort;
}

/** Validates, applies Kubernetes' defaults and resolves named ports; throws a FlotillaError listing every problem. */
export function resolveProbe(
  probe: Probe,
  kind: ProbeKind,
  containerPorts: readonly NamedPort[],
  prefix = probeField[kind],
): ResolvedProbe {
  const errors = probeErrors(probe, kind, prefix);
  if (errors.length > 0) throw invalidArgument(errors.join('; '), { field: prefix, value: probe });
  let action: ResolvedProbeAction;
  if (probe.httpGet) {
    const g = probe.httpGet;
    action = {
      type: 'httpGet',
      scheme: g.scheme ?? 'HTTP',
      host: g.host || undefined,
      port: resolveProbePort(g.port, containerPorts, `${prefix}.httpGet.port`),
      path: g.path || '/',
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
    initialDelaySeconds: probe.initialDelaySeconds ?? probeDefaults.initialDelaySeconds,
    timeoutSeconds: probe.timeoutSeconds ?? probeDefaults.timeoutSeconds,
    periodSeconds: probe.periodSeconds ?? probeDefaults.periodSeconds,
    successThreshold: probe.successThreshold ?? probeDefaults.successThreshold,
    failureThreshold: probe.failureThreshold ?? probeDefaults.failureThreshold,
  };
}
