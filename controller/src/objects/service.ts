// Service defaults and validation (Kubernetes' v1 rules for the fields Flotilla has), and
// the ranges cluster IPs and node ports come from. Pure.
import type { Service, ServicePort } from '@flotilla/proto';
import {
  FieldProblems,
  invalidArgument,
  validateDnsLabel,
  validatePortName,
  type FieldProblem,
} from '@flotilla/common';
import { checkLabels } from '../pods/validate-pod.js';
import { kinds } from './kinds.js';
import { manifestMeta, metaProblems } from './meta.js';

export const serviceTypes = ['ClusterIP', 'NodePort'] as const;
export const serviceProtocols = ['TCP', 'UDP'] as const;
export const nodePortRange = { min: 30000, max: 32767 } as const;
export const defaultServiceCidr = '10.96.0.0/16';

/** An IPv4 range; addresses as 32-bit numbers. */
export interface Cidr {
  text: string;
  /** The first and last address a service may get (the network and broadcast addresses excluded). */
  first: number;
  last: number;
}

export function ipv4ToNumber(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((x) => /^(0|[1-9]\d{0,2})$/.test(x) && Number(x) <= 255))
    return undefined;
  return parts.reduce((n, x) => n * 256 + Number(x), 0);
}

export function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** Parses an IPv4 CIDR of /8 to /30 (a range with room for services); InvalidArgument naming field. */
export function parseCidr(text: string, field = '--service-cidr'): Cidr {
  const fail = (why: string): never => {
    throw invalidArgument(`${field} "${text}" ${why}`, { field, value: text });
  };
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) return fail('is not an IPv4 CIDR such as 10.96.0.0/16');
  const base = ipv4ToNumber(m[1] ?? '');
  const bits = Number(m[2]);
  if (base === undefined) return fail('is not an IPv4 CIDR such as 10.96.0.0/16');
  if (bits < 8 || bits > 30) return fail('must have a prefix length from /8 to /30');
  const size = 2 ** (32 - bits);
  if (base % size !== 0)
    return fail(
      `is not a network address: the /${bits} network is ${numberToIpv4(base - (base % size))}/${bits}`,
    );
  return { text: `${numberToIpv4(base)}/${bits}`, first: base + 1, last: base + size - 2 };
}

export function inCidr(cidr: Cidr, ip: string): boolean {
  const n = ipv4ToNumber(ip);
  return n !== undefined && n >= cidr.first && n <= cidr.last;
}

/** A manifest's Service with Kubernetes' defaults (type ClusterIP, protocol TCP, targetPort = port). */
export function defaultService(input: Service): Service {
  const spec = input.spec;
  return {
    apiVersion: kinds.Service.apiVersion,
    kind: 'Service',
    metadata: manifestMeta(kinds.Service, input.metadata),
    spec: {
      type: spec?.type || 'ClusterIP',
      selector: { ...(spec?.selector ?? {}) },
      clusterIP: spec?.clusterIP ?? '',
      ports: (spec?.ports ?? []).map((port) => ({
        ...port,
        protocol: port.protocol || 'TCP',
        targetPort: port.targetPort || (port.port ? String(port.port) : ''),
      })),
    },
  };
}

function validPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

function checkPort(p: FieldProblems, f: string, port: ServicePort, type: string): void {
  if (!validPort(port.port)) p.add(`${f}.port`, port.port, 'must be between 1 and 65535');
  if (!(serviceProtocols as readonly string[]).includes(port.protocol)) {
    p.add(
      `${f}.protocol`,
      port.protocol,
      `must be one of ${serviceProtocols.map((x) => `"${x}"`).join(', ')}`,
    );
  }
  if (/^\d+$/.test(port.targetPort)) {
    if (!validPort(Number(port.targetPort))) {
      p.add(
        `${f}.targetPort`,
        port.targetPort,
        'must be a port between 1 and 65535 or the name of a container port',
      );
    }
  } else {
    const why = validatePortName(port.targetPort);
    if (why)
      p.add(`${f}.targetPort`, port.targetPort, `must be a port number or a container port's name: ${why}`);
  }
  if (port.nodePort !== 0) {
    if (type !== 'NodePort') {
      p.add(`${f}.nodePort`, port.nodePort, `may only be set when spec.type is "NodePort" (it is "${type}")`);
    } else if (
      !Number.isInteger(port.nodePort) ||
      port.nodePort < nodePortRange.min ||
      port.nodePort > nodePortRange.max
    ) {
      p.add(
        `${f}.nodePort`,
        port.nodePort,
        `must be in the node-port range ${nodePortRange.min}-${nodePortRange.max} (or 0 to have one assigned)`,
      );
    }
  }
}

/** Every problem with a defaulted Service; clusterIP, when given, must lie in cidr. */
export function serviceProblems(s: Service, cidr: Cidr): FieldProblem[] {
  const p = new FieldProblems();
  p.list.push(...metaProblems(kinds.Service, s.metadata));
  const spec = s.spec;
  if (!spec) {
    p.missing('spec', 'is required (spec.ports at least)');
    return p.list;
  }
  if (!(serviceTypes as readonly string[]).includes(spec.type)) {
    p.add('spec.type', spec.type, `must be one of ${serviceTypes.map((x) => `"${x}"`).join(', ')}`);
  }
  checkLabels(p, 'spec.selector', spec.selector);
  if (spec.clusterIP !== '' && !inCidr(cidr, spec.clusterIP)) {
    p.add(
      'spec.clusterIP',
      spec.clusterIP,
      `must be an address in the service range ${cidr.text}, or empty to have one assigned`,
    );
  }
  if (spec.ports.length === 0) p.missing('spec.ports', 'must have at least one port');
  const names = new Set<string>();
  const ports = new Set<string>();
  const nodePorts = new Set<string>();
  spec.ports.forEach((port, i) => {
    const f = `spec.ports[${i}]`;
    if (port.name === '') {
      if (spec.ports.length > 1) p.missing(`${f}.name`, 'is required when a service has more than one port');
    } else {
      const why = validateDnsLabel(port.name);
      if (why) p.add(`${f}.name`, port.name, `${why} (a DNS-1123 label)`);
      else if (names.has(port.name))
        p.add(`${f}.name`, port.name, 'is already the name of another port of the service');
      names.add(port.name);
    }
    const portKey = `${port.protocol}/${port.port}`;
    if (ports.has(portKey))
      p.add(`${f}.port`, port.port, `is already a ${port.protocol} port of the service`);
    ports.add(portKey);
    if (port.nodePort !== 0) {
      const nodeKey = `${port.protocol}/${port.nodePort}`;
      if (nodePorts.has(nodeKey)) {
        p.add(
          `${f}.nodePort`,
          port.nodePort,
          `is already the ${port.protocol} nodePort of another port of the service`,
        );
      }
      nodePorts.add(nodeKey);
    }
    checkPort(p, f, port, spec.type);
  });
  return p.list;
}
