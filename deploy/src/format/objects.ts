// `deploy get`: objects of every kind as kubectl prints them — its columns, its STATUS
// words — and as documents (-o json|yaml) with apiVersion and kind first. Pure: the
// caller passes the time.
import {
  Object as ApiObject,
  type Deployment,
  type Endpoints,
  type Event,
  type LabelSelector,
  type Namespace,
  type ObjectMeta,
  type Pod,
  type PodTemplateSpec,
  type ReplicaSet,
  type Service,
} from '@flotilla/proto';
import { unwrap, type KindInfo } from '../objects/kinds.js';
import { formatAge } from './age.js';
import { nodeRow, nodeColumns, nodeWideColumns } from './nodes.js';
import { none, orNone, renderTable } from './table.js';

export interface TableOptions {
  now: Date;
  wide: boolean;
  /** -A: a NAMESPACE column first. */
  withNamespace: boolean;
}

interface Columns {
  headers: readonly string[];
  wideHeaders: readonly string[];
  row: (object: ApiObject, now: Date, wide: boolean) => string[];
}

/** kubectl's pod STATUS: the waiting or terminated reason of a container, else the phase. */
export function podStatus(pod: Pod): string {
  if (pod.metadata?.deletionTimestamp) return 'Terminating';
  let reason = pod.status?.reason || pod.status?.phase || 'Pending';
  for (const status of pod.status?.containerStatuses ?? []) {
    const waiting = status.state?.waiting?.reason;
    const terminated = status.state?.terminated;
    if (waiting) reason = waiting;
    else if (terminated) {
      reason =
        terminated.reason ||
        (terminated.signal ? `Signal:${terminated.signal}` : `ExitCode:${terminated.exitCode}`);
    }
  }
  return reason;
}

export function podReady(pod: Pod): string {
  const total = pod.spec?.containers.length ?? 0;
  const ready = (pod.status?.containerStatuses ?? []).filter((s) => s.ready).length;
  return `${ready}/${total}`;
}

export function podRestarts(pod: Pod): string {
  return String((pod.status?.containerStatuses ?? []).reduce((sum, s) => sum + s.restartCount, 0));
}

/** "app=web,tier in (a,b)", as kubectl's SELECTOR column. */
export function formatSelector(selector: LabelSelector | undefined): string {
  if (!selector) return none;
  const parts = Object.entries(selector.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions) {
    if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${e.operator.toLowerCase()} (${e.values.join(',')})`);
  }
  return parts.length > 0 ? parts.join(',') : none;
}

function templateColumns(template: PodTemplateSpec | undefined): string[] {
  const containers = template?.spec?.containers ?? [];
  return [orNone(containers.map((c) => c.name).join(',')), orNone(containers.map((c) => c.image).join(','))];
}

export function formatServicePorts(service: Service): string {
  const ports = (service.spec?.ports ?? []).map((p) => {
    const node = p.nodePort ? `:${p.nodePort}` : '';
    return `${p.port}${node}/${p.protocol || 'TCP'}`;
  });
  return ports.length > 0 ? ports.join(',') : none;
}

/** "10.244.1.5:8080" (IPv6 in brackets), as net.JoinHostPort writes it. */
function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * kubectl's ENDPOINTS column: the ready addresses with each port (of the named ports only,
 * when portNames is given), the first three and "+ N more...".
 */
export function formatEndpoints(endpoints: Endpoints | undefined, portNames?: ReadonlySet<string>): string {
  const subsets = endpoints?.subsets ?? [];
  if (subsets.length === 0) return none;
  const max = 3;
  const list: string[] = [];
  let count = 0;
  for (const subset of subsets) {
    if (subset.ports.length === 0) {
      // A service without ports: the addresses alone.
      count += subset.addresses.length;
      for (const a of subset.addresses) if (list.length < max) list.push(a.ip);
      continue;
    }
    for (const port of subset.ports) {
      if (portNames && !portNames.has(port.name)) continue;
      count += subset.addresses.length;
      for (const a of subset.addresses) if (list.length < max) list.push(hostPort(a.ip, port.port));
    }
  }
  if (list.length === 0) return none;
  return count > max ? `${list.join(',')} + ${count - max} more...` : list.join(',');
}

function mapSelector(selector: Record<string, string> | undefined): string {
  const parts = Object.entries(selector ?? {}).map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? parts.join(',') : none;
}

function age(meta: ObjectMeta | undefined, now: Date): string {
  return formatAge(meta?.creationTimestamp, now);
}

/** "pod/web-1", the way kubectl's events name the object. */
export function involvedName(event: Event): string {
  const ref = event.involvedObject;
  if (!ref) return none;
  return `${ref.kind.toLowerCase()}/${ref.name}`;
}

export function eventLastSeen(event: Event, now: Date): string {
  return formatAge(event.lastTimestamp || event.firstTimestamp || event.metadata?.creationTimestamp, now);
}

const columns: Record<string, Columns> = {
  Pod: {
    headers: ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'],
    wideHeaders: ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE'],
    row: (object, now, wide) => {
      const pod = object.pod as Pod;
      const row = [
        orNone(pod.metadata?.name),
        podReady(pod),
        podStatus(pod),
        podRestarts(pod),
        age(pod.metadata, now),
      ];
      return wide ? [...row, orNone(pod.status?.podIP), orNone(pod.spec?.nodeName)] : row;
    },
  },
  Deployment: {
    headers: ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE'],
    wideHeaders: ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR'],
    row: (object, now, wide) => {
      const d = object.deployment as Deployment;
      const desired = d.spec?.replicas ?? 1;
      const status = d.status;
      const row = [
        orNone(d.metadata?.name),
        `${status?.readyReplicas ?? 0}/${desired}`,
        String(status?.updatedReplicas ?? 0),
        String(status?.availableReplicas ?? 0),
        age(d.metadata, now),
      ];
      return wide ? [...row, ...templateColumns(d.spec?.template), formatSelector(d.spec?.selector)] : row;
    },
  },
  ReplicaSet: {
    headers: ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE'],
    wideHeaders: ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR'],
    row: (object, now, wide) => {
      const rs = object.replicaSet as ReplicaSet;
      const row = [
        orNone(rs.metadata?.name),
        String(rs.spec?.replicas ?? 1),
        String(rs.status?.replicas ?? 0),
        String(rs.status?.readyReplicas ?? 0),
        age(rs.metadata, now),
      ];
      return wide ? [...row, ...templateColumns(rs.spec?.template), formatSelector(rs.spec?.selector)] : row;
    },
  },
  Service: {
    headers: ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE'],
    wideHeaders: ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR'],
    row: (object, now, wide) => {
      const s = object.service as Service;
      const row = [
        orNone(s.metadata?.name),
        s.spec?.type || 'ClusterIP',
        orNone(s.spec?.clusterIP),
        none,
        formatServicePorts(s),
        age(s.metadata, now),
      ];
      return wide ? [...row, mapSelector(s.spec?.selector)] : row;
    },
  },
  Endpoints: {
    headers: ['NAME', 'ENDPOINTS', 'AGE'],
    wideHeaders: ['NAME', 'ENDPOINTS', 'AGE'],
    row: (object, now) => {
      const e = object.endpoints as Endpoints;
      return [orNone(e.metadata?.name), formatEndpoints(e), age(e.metadata, now)];
    },
  },
  Namespace: {
    headers: ['NAME', 'STATUS', 'AGE'],
    wideHeaders: ['NAME', 'STATUS', 'AGE'],
    row: (object, now) => {
      const ns = object.namespace as Namespace;
      return [orNone(ns.metadata?.name), ns.status?.phase || 'Active', age(ns.metadata, now)];
    },
  },
  Node: {
    headers: nodeColumns,
    wideHeaders: nodeWideColumns,
    row: (object, now, wide) => (object.node ? nodeRow(object.node, now, wide) : []),
  },
  Event: {
    headers: ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'],
    wideHeaders: [
      'LAST SEEN',
      'TYPE',
      'REASON',
      'OBJECT',
      'SUBOBJECT',
      'SOURCE',
      'MESSAGE',
      'FIRST SEEN',
      'COUNT',
      'NAME',
    ],
    row: (object, now, wide) => {
      const e = object.event as Event;
      if (!wide) return [eventLastSeen(e, now), e.type, e.reason, involvedName(e), e.message];
      return [
        eventLastSeen(e, now),
        e.type,
        e.reason,
        involvedName(e),
        e.involvedObject?.fieldPath ?? '',
        [e.source?.component, e.source?.host].filter(Boolean).join(', '),
        e.message,
        formatAge(e.firstTimestamp, now),
        String(e.count || 1),
        orNone(e.metadata?.name),
      ];
    },
  },
};

export function tableHeaders(info: KindInfo, options: TableOptions): string[] {
  const c = columns[info.kind];
  const headers = [...((options.wide ? c?.wideHeaders : c?.headers) ?? ['NAME'])];
  return options.withNamespace && info.namespaced ? ['NAMESPACE', ...headers] : headers;
}

export function tableRow(object: ApiObject, options: TableOptions): string[] {
  const unwrapped = unwrap(object);
  if (!unwrapped) return [];
  const c = columns[unwrapped.info.kind];
  const row = c ? c.row(object, options.now, options.wide) : [orNone(unwrapped.metadata?.name)];
  return options.withNamespace && unwrapped.info.namespaced
    ? [orNone(unwrapped.metadata?.namespace), ...row]
    : row;
}

function timeOf(event: Event): number {
  const at = Date.parse(
    event.lastTimestamp || event.firstTimestamp || event.metadata?.creationTimestamp || '',
  );
  return Number.isNaN(at) ? 0 : at;
}

/** By namespace and name; events by when they last happened, as kubectl sorts them. */
export function sortObjects(objects: readonly ApiObject[]): ApiObject[] {
  const key = (o: ApiObject): string => {
    const m = unwrap(o)?.metadata;
    return `${m?.namespace ?? ''}\u0000${m?.name ?? ''}`;
  };
  return [...objects].sort((a, b) => {
    if (a.event && b.event) return timeOf(a.event) - timeOf(b.event) || key(a).localeCompare(key(b));
    return key(a).localeCompare(key(b));
  });
}

export function objectsTable(info: KindInfo, objects: readonly ApiObject[], options: TableOptions): string {
  return renderTable(
    tableHeaders(info, options),
    sortObjects(objects).map((o) => tableRow(o, options)),
  );
}

/** An object's JSON form with apiVersion and kind first, filled in when the server left them out. */
export function objectDocument(object: ApiObject): Record<string, unknown> {
  const unwrapped = unwrap(object);
  if (!unwrapped) return {};
  const json =
    (ApiObject.toJSON(object) as Record<string, Record<string, unknown>>)[unwrapped.info.field] ?? {};
  const { apiVersion, kind, ...rest } = json;
  return {
    apiVersion: apiVersion || unwrapped.info.apiVersion,
    kind: kind || unwrapped.info.kind,
    ...rest,
  };
}

export function objectListDocument(objects: readonly ApiObject[]): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'List', items: sortObjects(objects).map(objectDocument) };
}
