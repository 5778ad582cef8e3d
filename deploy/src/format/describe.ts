// `deploy describe`: an object as kubectl describe prints it — labelled fields, the pod
// template, conditions, and the object's events last. Pure: the caller passes the
// events it read and the time.
import type {
  Container,
  Deployment,
  Endpoints,
  Event,
  Node,
  Object as ApiObject,
  ObjectMeta,
  Pod,
  PodTemplateSpec,
  ReplicaSet,
  Service,
} from '@flotilla/proto';
import { unwrap } from '../objects/kinds.js';
import { formatAge } from './age.js';
import { nodeAddress, nodeStatus } from './nodes.js';
import { formatEndpoints, formatSelector, podStatus } from './objects.js';
import { renderDocument } from './output.js';
import { objectDocument } from './objects.js';
import { none, renderTable } from './table.js';

export const revisionAnnotation = 'deployment.kubernetes.io/revision';

/** Lines of "Label:  value", the values aligned at one column. */
class Lines {
  readonly out: string[] = [];
  field(label: string, value: string, indent = 0): void {
    const pad = ' '.repeat(indent);
    const head = `${pad}${label}:`;
    this.out.push(value === '' ? head : `${head.padEnd(Math.max(head.length + 1, indent + 16))}${value}`);
  }
  /** A "key=value" map, one pair a line, as kubectl prints labels. */
  map(label: string, values: Record<string, string> | undefined, indent = 0): void {
    const entries = Object.entries(values ?? {}).sort(([a], [b]) => a.localeCompare(b));
    if (entries.length === 0) return this.field(label, none, indent);
    entries.forEach(([k, v], i) => {
      if (i === 0) this.field(label, `${k}=${v}`, indent);
      else this.out.push(`${' '.repeat(Math.max(indent + label.length + 2, indent + 16))}${k}=${v}`);
    });
  }
  line(text: string): void {
    this.out.push(text);
  }
  /** A table under a heading, indented two spaces. */
  table(label: string, headers: readonly string[], rows: readonly string[][], indent = 0): void {
    if (rows.length === 0) return this.field(label, none, indent);
    this.field(label, '', indent);
    const text = renderTable(headers, [headers.map((h) => '-'.repeat(h.length)), ...rows]);
    for (const line of text.trimEnd().split('\n')) this.out.push(`${' '.repeat(indent + 2)}${line}`);
  }
  toString(): string {
    return this.out.join('\n') + '\n';
  }
}

function metaLines(lines: Lines, meta: ObjectMeta | undefined, namespaced: boolean): void {
  lines.field('Name', meta?.name ?? '');
  if (namespaced) lines.field('Namespace', meta?.namespace || 'default');
  lines.map('Labels', meta?.labels);
  lines.map('Annotations', meta?.annotations);
  if (meta?.creationTimestamp) lines.field('CreationTimestamp', meta.creationTimestamp);
  const owner = meta?.ownerReferences.find((o) => o.controller) ?? meta?.ownerReferences[0];
  if (owner) lines.field('Controlled By', `${owner.kind}/${owner.name}`);
  if (meta?.deletionTimestamp) lines.field('Terminating Since', meta.deletionTimestamp);
}

function containerLines(lines: Lines, container: Container, indent: number, pod?: Pod): void {
  lines.line(`${' '.repeat(indent)}${container.name}:`);
  const i = indent + 2;
  lines.field('Image', container.image, i);
  const ports = container.ports.map((p) => `${p.containerPort}/${p.protocol || 'TCP'}`);
  lines.field('Port', ports.length > 0 ? ports.join(', ') : none, i);
  if (container.command.length > 0) lines.field('Command', container.command.join(' '), i);
  if (container.args.length > 0) lines.field('Args', container.args.join(' '), i);
  const status = pod?.status?.containerStatuses.find((s) => s.name === container.name);
  if (pod) {
    const state = status?.state;
    if (state?.running) lines.field('State', `Running (started ${state.running.startedAt})`, i);
    else if (state?.waiting) lines.field('State', `Waiting (${state.waiting.reason})`, i);
    else if (state?.terminated)
      lines.field(
        'State',
        `Terminated (${state.terminated.reason || 'exit'} ${state.terminated.exitCode})`,
        i,
      );
    else lines.field('State', 'Waiting', i);
    lines.field('Ready', status?.ready ? 'True' : 'False', i);
    lines.field('Restart Count', String(status?.restartCount ?? 0), i);
  }
  const limits = Object.entries(container.resources?.limits ?? {});
  const requests = Object.entries(container.resources?.requests ?? {});
  if (limits.length > 0) lines.field('Limits', limits.map(([k, v]) => `${k}: ${v}`).join(', '), i);
  if (requests.length > 0) lines.field('Requests', requests.map(([k, v]) => `${k}: ${v}`).join(', '), i);
  if (container.readinessProbe) lines.field('Readiness', probeText(container), i);
  const env = container.env.map((e) => `${e.name}=${e.value}`);
  lines.field('Environment', env.length > 0 ? env.join(', ') : none, i);
}

function probeText(container: Container): string {
  const p = container.readinessProbe;
  if (!p) return none;
  if (p.httpGet)
    return `http-get ${p.httpGet.scheme.toLowerCase() || 'http'}://:${p.httpGet.port}${p.httpGet.path}`;
  if (p.tcpSocket) return `tcp-socket :${p.tcpSocket.port}`;
  if (p.exec) return `exec [${p.exec.command.join(' ')}]`;
  return none;
}

/** A pod template as kubectl describe shows it (Deployment, ReplicaSet, rollout history). */
export function templateLines(template: PodTemplateSpec | undefined, indent = 0): string[] {
  const lines = new Lines();
  lines.field('Pod Template', '', indent);
  lines.map('Labels', template?.metadata?.labels, indent + 2);
  const annotations = template?.metadata?.annotations ?? {};
  if (Object.keys(annotations).length > 0) lines.map('Annotations', annotations, indent + 2);
  lines.field('Containers', '', indent + 2);
  for (const c of template?.spec?.containers ?? []) containerLines(lines, c, indent + 3);
  return lines.out;
}

export function eventsTable(events: readonly Event[], now: Date): string[] {
  const lines = new Lines();
  const sorted = [...events].sort((a, b) =>
    (a.lastTimestamp || a.firstTimestamp).localeCompare(b.lastTimestamp || b.firstTimestamp),
  );
  lines.table(
    'Events',
    ['Type', 'Reason', 'Age', 'From', 'Message'],
    sorted.map((e) => {
      const age = formatAge(e.lastTimestamp || e.firstTimestamp || e.metadata?.creationTimestamp, now);
      const count = e.count > 1 ? ` (x${e.count} over ${formatAge(e.firstTimestamp, now)})` : '';
      return [e.type, e.reason, `${age}${count}`, e.source?.component ?? '', e.message];
    }),
  );
  return lines.out;
}

function describePod(lines: Lines, pod: Pod): void {
  lines.field(
    'Node',
    pod.spec?.nodeName ? `${pod.spec.nodeName}/${pod.status?.hostIP || ''}`.replace(/\/$/, '') : none,
  );
  if (pod.status?.startTime) lines.field('Start Time', pod.status.startTime);
  lines.field('Status', podStatus(pod));
  if (pod.status?.reason) lines.field('Reason', pod.status.reason);
  if (pod.status?.message) lines.field('Message', pod.status.message);
  lines.field('IP', pod.status?.podIP || none);
  lines.field('Containers', '');
  for (const c of pod.spec?.containers ?? []) containerLines(lines, c, 2, pod);
  const conditions = pod.status?.conditions ?? [];
  lines.table(
    'Conditions',
    ['Type', 'Status', 'Reason', 'Message'],
    conditions.map((c) => [c.type, c.status, c.reason, c.message]),
  );
  // Why a pending pod is not running: the scheduler's answer on PodScheduled.
  const scheduled = conditions.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.message) lines.field('Not Scheduled', scheduled.message);
  const selector = pod.spec?.nodeSelector ?? {};
  lines.map('Node-Selectors', selector);
  const tolerations = (pod.spec?.tolerations ?? []).map(
    (t) =>
      `${t.key}${t.operator === 'Exists' ? '' : `=${t.value}`}${t.effect ? `:${t.effect}` : ''}` +
      (t.tolerationSeconds !== undefined ? ` for ${t.tolerationSeconds}s` : ''),
  );
  lines.field('Tolerations', tolerations.length > 0 ? tolerations.join(', ') : none);
}

function describeDeployment(lines: Lines, d: Deployment, replicaSets: readonly ReplicaSet[]): void {
  const spec = d.spec;
  const status = d.status;
  lines.field('Selector', formatSelector(spec?.selector));
  const desired = spec?.replicas ?? 1;
  lines.field(
    'Replicas',
    `${desired} desired | ${status?.updatedReplicas ?? 0} updated | ${status?.replicas ?? 0} total | ` +
      `${status?.availableReplicas ?? 0} available | ${status?.unavailableReplicas ?? 0} unavailable`,
  );
  const strategy = spec?.strategy?.type || 'RollingUpdate';
  lines.field('StrategyType', strategy);
  lines.field('MinReadySeconds', String(spec?.minReadySeconds ?? 0));
  if (strategy === 'RollingUpdate') {
    const ru = spec?.strategy?.rollingUpdate;
    lines.field(
      'RollingUpdateStrategy',
      `${ru?.maxUnavailable ?? '25%'} max unavailable, ${ru?.maxSurge ?? '25%'} max surge`,
    );
  }
  if (spec?.paused) lines.field('Paused', 'true');
  lines.out.push(...templateLines(spec?.template));
  lines.table(
    'Conditions',
    ['Type', 'Status', 'Reason', 'Message'],
    (status?.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message]),
  );
  const revision = d.metadata?.annotations[revisionAnnotation];
  const rsText = (rs: ReplicaSet): string =>
    `${rs.metadata?.name ?? ''} (${rs.status?.replicas ?? 0}/${rs.spec?.replicas ?? 1} replicas created)`;
  const current = replicaSets.find(
    (rs) => revision && rs.metadata?.annotations[revisionAnnotation] === revision,
  );
  const old = replicaSets.filter((rs) => rs !== current && (rs.spec?.replicas ?? 1) > 0);
  lines.field('OldReplicaSets', old.length > 0 ? old.map(rsText).join(', ') : none);
  lines.field('NewReplicaSet', current ? rsText(current) : none);
}

function describeReplicaSet(lines: Lines, rs: ReplicaSet): void {
  lines.field('Selector', formatSelector(rs.spec?.selector));
  lines.field('Replicas', `${rs.status?.replicas ?? 0} current / ${rs.spec?.replicas ?? 1} desired`);
  lines.field(
    'Pods Status',
    `${rs.status?.readyReplicas ?? 0} Ready / ${rs.status?.availableReplicas ?? 0} Available`,
  );
  lines.out.push(...templateLines(rs.spec?.template));
}

function describeService(lines: Lines, s: Service, endpoints: Endpoints | undefined): void {
  lines.map('Selector', s.spec?.selector);
  lines.field('Type', s.spec?.type || 'ClusterIP');
  lines.field('IP', s.spec?.clusterIP || none);
  for (const p of s.spec?.ports ?? []) {
    const name = p.name || '<unset>';
    lines.field('Port', `${name}  ${p.port}/${p.protocol || 'TCP'}`);
    lines.field('TargetPort', `${p.targetPort || p.port}/${p.protocol || 'TCP'}`);
    if (p.nodePort) lines.field('NodePort', `${name}  ${p.nodePort}/${p.protocol || 'TCP'}`);
    // As kubectl: this port's ready addresses (the Endpoints' port has the service port's name).
    lines.field('Endpoints', formatEndpoints(endpoints, new Set([p.name])));
  }
}

function describeEndpoints(lines: Lines, e: Endpoints): void {
  lines.field('Subsets', '');
  for (const subset of e.subsets) {
    const ips = (list: typeof subset.addresses): string =>
      list.length > 0 ? list.map((a) => a.ip).join(',') : none;
    lines.field('Addresses', ips(subset.addresses), 2);
    lines.field('NotReadyAddresses', ips(subset.notReadyAddresses), 2);
    lines.table(
      'Ports',
      ['Name', 'Port', 'Protocol'],
      subset.ports.map((p) => [p.name || '<unset>', String(p.port), p.protocol || 'TCP']),
      2,
    );
    lines.line('');
  }
}

function describeNode(lines: Lines, node: Node): void {
  lines.field('Status', nodeStatus(node));
  lines.field('Address', nodeAddress(node));
  const taints = (node.spec?.taints ?? []).map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`);
  lines.field('Taints', taints.length > 0 ? taints.join(', ') : none);
  lines.field('Unschedulable', node.spec?.unschedulable ? 'true' : 'false');
  lines.table(
    'Conditions',
    ['Type', 'Status', 'LastHeartbeatTime', 'Reason', 'Message'],
    (node.status?.conditions ?? []).map((c) => [c.type, c.status, c.lastHeartbeatTime, c.reason, c.message]),
  );
  lines.map('Capacity', node.status?.capacity);
  lines.map('Allocatable', node.status?.allocatable);
  const info = node.status?.nodeInfo;
  if (info) {
    lines.field('System Info', '');
    lines.field('Kernel Version', info.kernelVersion, 2);
    lines.field('OS Image', info.osImage, 2);
    lines.field('Architecture', info.architecture, 2);
    lines.field('Runtime', info.containerRuntimeVersion, 2);
    lines.field('Agent', info.agentVersion, 2);
  }
}

export interface DescribeContext {
  events: readonly Event[];
  /** A Deployment's ReplicaSets, for OldReplicaSets and NewReplicaSet. */
  replicaSets?: readonly ReplicaSet[];
  /** A Service's Endpoints, for its Endpoints lines (undefined: it has none). */
  endpoints?: Endpoints;
  now: Date;
}

export function describeObject(object: ApiObject, context: DescribeContext): string {
  const u = unwrap(object);
  if (!u) return '';
  const lines = new Lines();
  metaLines(lines, u.metadata, u.info.namespaced);
  if (object.pod) describePod(lines, object.pod);
  else if (object.deployment) describeDeployment(lines, object.deployment, context.replicaSets ?? []);
  else if (object.replicaSet) describeReplicaSet(lines, object.replicaSet);
  else if (object.service) describeService(lines, object.service, context.endpoints);
  else if (object.endpoints) describeEndpoints(lines, object.endpoints);
  else if (object.node) describeNode(lines, object.node);
  else if (object.namespace) lines.field('Status', object.namespace.status?.phase || 'Active');
  else if (object.event) {
    for (const line of renderDocument(objectDocument(object), 'yaml').trimEnd().split('\n')) lines.line(line);
    return lines.toString();
  }
  lines.out.push(...eventsTable(context.events, context.now));
  return lines.toString();
}
