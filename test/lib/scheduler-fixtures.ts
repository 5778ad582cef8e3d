// Nodes and pods for the scheduler's table tests, described by the few fields a test is about.
import { Node, Pod } from '@flotilla/proto';
import { SchedulingSnapshot } from '@flotilla/controller';

export interface TestNode {
  name: string;
  ready?: boolean;
  unschedulable?: boolean;
  labels?: Record<string, string>;
  zone?: string;
  cpu?: string;
  memory?: string;
  pods?: string;
  taints?: { key: string; value?: string; effect: string }[];
  images?: { names: string[]; sizeBytes: number }[];
}

export function testNode(s: TestNode): Node {
  return Node.fromJSON({
    metadata: {
      name: s.name,
      labels: { ...(s.labels ?? {}), ...(s.zone ? { 'topology.kubernetes.io/zone': s.zone } : {}) },
    },
    spec: { unschedulable: s.unschedulable ?? false, taints: s.taints ?? [] },
    status: {
      allocatable: { cpu: s.cpu ?? '2', memory: s.memory ?? '1Gi', ...(s.pods ? { pods: s.pods } : {}) },
      conditions: [{ type: 'Ready', status: s.ready === false ? 'Unknown' : 'True' }],
      images: s.images ?? [],
    },
  });
}

export interface TestPod {
  name: string;
  namespace?: string;
  node?: string;
  cpu?: string;
  memory?: string;
  limitOnly?: boolean;
  hostPort?: number;
  hostIP?: string;
  protocol?: string;
  phase?: string;
  image?: string;
  labels?: Record<string, string>;
  owner?: string;
  selector?: Record<string, string>;
  tolerations?: { key?: string; operator?: string; value?: string; effect?: string }[];
  /** JSON of spec.affinity.nodeAffinity. */
  nodeAffinity?: unknown;
  deleting?: boolean;
  creationTimestamp?: string;
}

export function testPod(s: TestPod): Pod {
  const amounts: Record<string, string> = {};
  if (s.cpu) amounts.cpu = s.cpu;
  if (s.memory) amounts.memory = s.memory;
  return Pod.fromJSON({
    metadata: {
      name: s.name,
      namespace: s.namespace ?? 'default',
      uid: `uid-${s.name}`,
      labels: s.labels ?? {},
      creationTimestamp: s.creationTimestamp ?? '',
      deletionTimestamp: s.deleting ? '2026-01-01T00:00:00Z' : '',
      ownerReferences: s.owner
        ? [
            {
              apiVersion: 'apps/v1',
              kind: 'ReplicaSet',
              name: s.owner,
              uid: `uid-${s.owner}`,
              controller: true,
            },
          ]
        : [],
    },
    spec: {
      nodeName: s.node ?? '',
      nodeSelector: s.selector ?? {},
      tolerations: s.tolerations ?? [],
      affinity: s.nodeAffinity ? { nodeAffinity: s.nodeAffinity } : undefined,
      containers: [
        {
          name: 'c',
          image: s.image ?? 'busybox',
          resources: s.limitOnly ? { limits: amounts } : { requests: amounts },
          ports: s.hostPort
            ? [
                {
                  containerPort: 80,
                  hostPort: s.hostPort,
                  hostIP: s.hostIP ?? '',
                  protocol: s.protocol ?? 'TCP',
                },
              ]
            : [],
        },
      ],
    },
    status: { phase: s.phase ?? 'Running', conditions: [] },
  });
}

export function podKey(pod: Pod): string {
  return `pods/${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

/** A snapshot holding the nodes and the (bound) pods. */
export function snapshotOf(nodes: readonly Node[], pods: readonly Pod[] = []): SchedulingSnapshot {
  const s = new SchedulingSnapshot();
  for (const n of nodes) s.setNode(n);
  for (const p of pods) s.setPod(podKey(p), p);
  return s;
}
