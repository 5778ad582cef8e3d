// What a pod must look like before the controller stores it: Kubernetes' validation rules
// for the fields Flotilla has. Pure. Every problem names the field path, the value and
// what would be valid; all problems are collected so one answer lists them all.
import { isIP } from 'node:net';
import type { Container, Pod, Probe } from '@flotilla/proto';
import {
  FieldProblems,
  invalidArgument,
  probeField,
  probeFromWire,
  probeProblems,
  quantityExamples,
  showValue,
  validateDnsLabel,
  validateDnsSubdomain,
  validatePortName,
  type FieldProblem,
  type FlotillaError,
  type ProbeKind,
} from '@flotilla/common';
import { parseReference } from '@flotilla/images';
import { validateLabelKey, validateLabelValue } from '../labels/labels.js';
import { podAnnotations } from './defaults.js';
import { isResourceName, resourceAmount, resourceNames, type ResourceName } from './quantity.js';

export type PodProblem = FieldProblem;

export const restartPolicies = ['Always', 'OnFailure', 'Never'] as const;
export const imagePullPolicies = ['Always', 'IfNotPresent', 'Never'] as const;
export const protocols = ['TCP', 'UDP', 'SCTP'] as const;
export const hostPathTypes = [
  '',
  'DirectoryOrCreate',
  'Directory',
  'FileOrCreate',
  'File',
  'Socket',
] as const;

const envName = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const maxAnnotationBytes = 256 * 1024;
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export { validateDnsLabel, validatePortName };

function oneOf(values: readonly string[]): string {
  return values
    .filter((v) => v !== '')
    .map((v) => `"${v}"`)
    .join(', ');
}

function isAbsolute(path: string): boolean {
  return path.startsWith('/');
}

function hasBackstep(path: string): boolean {
  return path.split('/').includes('..');
}

export function checkLabels(p: FieldProblems, field: string, labels: Record<string, string>): void {
  for (const [key, value] of Object.entries(labels)) {
    const keyWhy = validateLabelKey(key);
    if (keyWhy) p.add(`${field}`, key, `is not a valid label key: ${keyWhy}`);
    const valueWhy = validateLabelValue(value);
    if (valueWhy) p.add(`${field}.${key}`, value, `is not a valid label value: ${valueWhy}`);
  }
}

export function checkAnnotations(p: FieldProblems, field: string, annotations: Record<string, string>): void {
  let size = 0;
  for (const [key, value] of Object.entries(annotations)) {
    const keyWhy = validateLabelKey(key);
    if (keyWhy) p.add(field, key, `is not a valid annotation key: ${keyWhy}`);
    size += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (size > maxAnnotationBytes) {
    p.missing(field, `annotations total ${size} bytes, more than the ${maxAnnotationBytes} allowed`);
  }
}

/** Metadata a create or an update must carry. */
export function metadataProblems(pod: Pod): PodProblem[] {
  const p = new FieldProblems();
  const meta = pod.metadata;
  if (!meta) {
    p.missing('metadata', 'is required (metadata.name at least)');
    return p.list;
  }
  const nameWhy = validateDnsSubdomain(meta.name);
  if (nameWhy) p.add('metadata.name', meta.name, `${nameWhy} (a DNS-1123 subdomain)`);
  const nsWhy = validateDnsLabel(meta.namespace);
  if (nsWhy) p.add('metadata.namespace', meta.namespace, `${nsWhy} (a DNS-1123 label)`);
  checkLabels(p, 'metadata.labels', meta.labels);
  checkAnnotations(p, 'metadata.annotations', meta.annotations);
  const autoRemove = meta.annotations[podAnnotations.autoRemove];
  if (autoRemove !== undefined && autoRemove !== 'true' && autoRemove !== 'false') {
    p.add(`metadata.annotations.${podAnnotations.autoRemove}`, autoRemove, 'must be "true" or "false"');
  }
  const restartedAt = meta.annotations[podAnnotations.restartedAt];
  if (restartedAt !== undefined && (!rfc3339.test(restartedAt) || Number.isNaN(Date.parse(restartedAt)))) {
    p.add(
      `metadata.annotations.${podAnnotations.restartedAt}`,
      restartedAt,
      'must be an RFC 3339 time such as 2026-01-02T15:04:05Z',
    );
  }
  return p.list;
}

/** A probe's problems: @flotilla/common's rules, the ones the agent applies before probing. */
function checkProbe(
  p: FieldProblems,
  field: string,
  kind: ProbeKind,
  probe: Probe,
  container: Container,
): void {
  p.list.push(...probeProblems(probeFromWire(probe), kind, field, container.ports));
}

/** The amounts of one requests or limits map, checking names and quantities. */
function checkResourceMap(
  p: FieldProblems,
  field: string,
  map: Record<string, string>,
): Map<ResourceName, bigint> {
  const out = new Map<ResourceName, bigint>();
  for (const [name, text] of Object.entries(map)) {
    if (!isResourceName(name)) {
      p.add(field, name, `is not a resource this cluster knows (valid: ${oneOf(resourceNames)})`);
      continue;
    }
    const amount = resourceAmount(name, text);
    if (amount === undefined) {
      const example = name === 'cpu' ? quantityExamples.cpu : quantityExamples.bytes;
      p.add(`${field}.${name}`, text, `is not a quantity (want e.g. ${example})`);
      continue;
    }
    out.set(name, amount);
  }
  return out;
}

interface HostPortUse {
  field: string;
  ip: string;
  port: number;
  protocol: string;
}

const wildcard = (ip: string): boolean => ip === '' || ip === '0.0.0.0' || ip === '::';

/** Whether two host port bindings collide: same protocol and port, and overlapping addresses. */
export function hostPortsCollide(
  a: { ip: string; port: number; protocol: string },
  b: { ip: string; port: number; protocol: string },
): boolean {
  return (
    a.port === b.port &&
    (a.protocol || 'TCP') === (b.protocol || 'TCP') &&
    (wildcard(a.ip) || wildcard(b.ip) || a.ip === b.ip)
  );
}

function checkContainer(
  p: FieldProblems,
  field: string,
  c: Container,
  volumes: Set<string>,
  hostPorts: HostPortUse[],
  portNames: Set<string>,
): void {
  const nameWhy = validateDnsLabel(c.name);
  if (nameWhy) p.add(`${field}.name`, c.name, `${nameWhy} (a DNS-1123 label)`);

  if (c.image === '') p.missing(`${field}.image`, 'is required: an image reference such as busybox:1.36');
  else {
    try {
      parseReference(c.image);
    } catch (err) {
      p.add(
        `${field}.image`,
        c.image,
        `is not a valid image reference: ${(err as FlotillaError).message.replace(/^invalid image reference "[^"]*": /, '')}`,
      );
    }
  }
  if (c.imagePullPolicy !== '' && !(imagePullPolicies as readonly string[]).includes(c.imagePullPolicy)) {
    p.add(`${field}.imagePullPolicy`, c.imagePullPolicy, `must be one of ${oneOf(imagePullPolicies)}`);
  }

  if (c.command.length > 0 && c.command[0] === '') {
    p.add(`${field}.command[0]`, '', 'must name the program to run');
  }
  c.command.forEach((arg, i) => {
    if (arg.includes('\0')) p.add(`${field}.command[${i}]`, arg, 'must not contain a NUL character');
  });
  c.args.forEach((arg, i) => {
    if (arg.includes('\0')) p.add(`${field}.args[${i}]`, arg, 'must not contain a NUL character');
  });
  if (c.workingDir !== '' && !isAbsolute(c.workingDir)) {
    p.add(`${field}.workingDir`, c.workingDir, 'must be an absolute path');
  }

  c.env.forEach((e, i) => {
    if (!envName.test(e.name)) {
      p.add(
        `${field}.env[${i}].name`,
        e.name,
        'must consist of letters, digits, "_", "-" and ".", and must not start with a digit',
      );
    }
    if (e.value.includes('\0'))
      p.add(`${field}.env[${i}].value`, e.value, 'must not contain a NUL character');
  });

  c.ports.forEach((port, i) => {
    const f = `${field}.ports[${i}]`;
    if (!Number.isInteger(port.containerPort) || port.containerPort < 1 || port.containerPort > 65535) {
      p.add(`${f}.containerPort`, port.containerPort, 'must be between 1 and 65535');
    }
    if (port.hostPort !== 0 && (port.hostPort < 1 || port.hostPort > 65535)) {
      p.add(`${f}.hostPort`, port.hostPort, 'must be between 1 and 65535 (or 0 for none)');
    }
    if (port.protocol !== '' && !(protocols as readonly string[]).includes(port.protocol)) {
      p.add(`${f}.protocol`, port.protocol, `must be one of ${oneOf(protocols)}`);
    }
    if (port.hostIP !== '' && isIP(port.hostIP) === 0) {
      p.add(`${f}.hostIP`, port.hostIP, 'must be an IP address');
    }
    if (port.hostIP !== '' && port.hostPort === 0) {
      p.add(`${f}.hostIP`, port.hostIP, 'needs a hostPort to bind');
    }
    if (port.name !== '') {
      const why = validatePortName(port.name);
      if (why) p.add(`${f}.name`, port.name, why);
      else if (portNames.has(port.name))
        p.add(`${f}.name`, port.name, 'is already the name of another port of the pod');
      portNames.add(port.name);
    }
    if (port.hostPort >= 1 && port.hostPort <= 65535) {
      const use = { field: f, ip: port.hostIP, port: port.hostPort, protocol: port.protocol || 'TCP' };
      const clash = hostPorts.find((u) => hostPortsCollide(u, use));
      if (clash) {
        p.add(
          `${f}.hostPort`,
          port.hostPort,
          `is already bound by ${clash.field} (${use.protocol} ${clash.ip || '0.0.0.0'}:${clash.port}), and a host port can be bound once per pod`,
        );
      }
      hostPorts.push(use);
    }
  });

  if (c.resources) {
    const requests = checkResourceMap(p, `${field}.resources.requests`, c.resources.requests);
    const limits = checkResourceMap(p, `${field}.resources.limits`, c.resources.limits);
    for (const [name, request] of requests) {
      const limit = limits.get(name);
      if (limit !== undefined && request > limit) {
        p.add(
          `${field}.resources.requests.${name}`,
          c.resources.requests[name],
          `must not exceed the limit ${showValue(c.resources.limits[name])}`,
        );
      }
    }
  }

  const mountPaths = new Set<string>();
  c.volumeMounts.forEach((m, i) => {
    const f = `${field}.volumeMounts[${i}]`;
    if (m.name === '') p.missing(`${f}.name`, 'is required: the name of one of spec.volumes');
    else if (!volumes.has(m.name)) {
      p.add(
        `${f}.name`,
        m.name,
        `is not one of spec.volumes (${volumes.size ? [...volumes].join(', ') : 'the pod has none'})`,
      );
    }
    if (!isAbsolute(m.mountPath)) p.add(`${f}.mountPath`, m.mountPath, 'must be an absolute path');
    else if (mountPaths.has(m.mountPath)) {
      p.add(`${f}.mountPath`, m.mountPath, 'is already mounted by another volumeMount of this container');
    }
    mountPaths.add(m.mountPath);
    if (m.subPath !== '' && (isAbsolute(m.subPath) || hasBackstep(m.subPath))) {
      p.add(`${f}.subPath`, m.subPath, 'must be a relative path without ".."');
    }
  });

  for (const kind of ['liveness', 'readiness', 'startup'] as const) {
    const probe = c[probeField[kind]];
    if (probe) checkProbe(p, `${field}.${probeField[kind]}`, kind, probe, c);
  }

  if (c.stdinOnce && !c.stdin) p.add(`${field}.stdinOnce`, true, 'needs stdin: true');
}

/** Every problem with a pod (after defaults); empty when it may be stored. */
export function podProblems(pod: Pod): PodProblem[] {
  const p = new FieldProblems();
  p.list.push(...metadataProblems(pod));
  const spec = pod.spec;
  if (!spec) {
    p.missing('spec', 'is required (spec.containers at least)');
    return p.list;
  }
  if (spec.restartPolicy !== '' && !(restartPolicies as readonly string[]).includes(spec.restartPolicy)) {
    p.add('spec.restartPolicy', spec.restartPolicy, `must be one of ${oneOf(restartPolicies)}`);
  }
  if (spec.terminationGracePeriodSeconds !== undefined && spec.terminationGracePeriodSeconds < 0) {
    p.add('spec.terminationGracePeriodSeconds', spec.terminationGracePeriodSeconds, 'must be 0 or more');
  }
  if (spec.nodeName !== '') {
    const why = validateDnsSubdomain(spec.nodeName);
    if (why) p.add('spec.nodeName', spec.nodeName, why);
  }
  if (spec.hostname !== '') {
    const why = validateDnsLabel(spec.hostname);
    if (why) p.add('spec.hostname', spec.hostname, `${why} (a DNS-1123 label)`);
  }
  checkLabels(p, 'spec.nodeSelector', spec.nodeSelector);

  const volumes = new Set<string>();
  spec.volumes.forEach((v, i) => {
    const f = `spec.volumes[${i}]`;
    const why = validateDnsLabel(v.name);
    if (why) p.add(`${f}.name`, v.name, `${why} (a DNS-1123 label)`);
    else if (volumes.has(v.name)) p.add(`${f}.name`, v.name, 'is already the name of another volume');
    volumes.add(v.name);
    const sources = (['hostPath', 'emptyDir'] as const).filter((s) => v[s] !== undefined);
    if (sources.length !== 1) {
      p.missing(
        f,
        sources.length === 0
          ? 'must have exactly one source: hostPath or emptyDir'
          : 'must have exactly one source, not both hostPath and emptyDir',
      );
    }
    if (v.hostPath) {
      const path = v.hostPath.path;
      if (!isAbsolute(path)) p.add(`${f}.hostPath.path`, path, 'must be an absolute path on the node');
      else if (hasBackstep(path)) p.add(`${f}.hostPath.path`, path, 'must not contain ".."');
      if (!(hostPathTypes as readonly string[]).includes(v.hostPath.type)) {
        p.add(`${f}.hostPath.type`, v.hostPath.type, `must be empty or one of ${oneOf(hostPathTypes)}`);
      }
    }
    if (v.emptyDir) {
      if (v.emptyDir.medium !== '' && v.emptyDir.medium !== 'Memory') {
        p.add(`${f}.emptyDir.medium`, v.emptyDir.medium, 'must be "" (the node\'s disk) or "Memory"');
      }
      if (v.emptyDir.sizeLimit !== '' && resourceAmount('memory', v.emptyDir.sizeLimit) === undefined) {
        p.add(`${f}.emptyDir.sizeLimit`, v.emptyDir.sizeLimit, 'is not a quantity (want e.g. 64Mi or 1G)');
      }
    }
  });

  if (spec.containers.length === 0) {
    p.missing('spec.containers', 'must have at least one container');
  }
  const names = new Set<string>();
  const hostPorts: HostPortUse[] = [];
  const portNames = new Set<string>();
  spec.containers.forEach((c, i) => {
    const f = `spec.containers[${i}]`;
    checkContainer(p, f, c, volumes, hostPorts, portNames);
    if (c.name !== '' && names.has(c.name)) {
      p.add(`${f}.name`, c.name, 'is already the name of another container of the pod');
    }
    names.add(c.name);
  });
  return p.list;
}

/** One InvalidArgument listing every problem, naming the first problem's field. */
export function invalidPod(what: string, object: string, problems: PodProblem[]): FlotillaError {
  const first = problems[0];
  return invalidArgument(`${what} is invalid: ${problems.map((x) => x.message).join('; ')}`, {
    object,
    field: first?.field,
    value: first?.value,
  });
}

/** Throws invalidPod when the pod has any problem. */
export function validatePod(pod: Pod): void {
  const problems = podProblems(pod);
  if (problems.length > 0) {
    const ns = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    throw invalidPod(`pod "${ns}/${name}"`, `pod/${ns}/${name}`, problems);
  }
}
