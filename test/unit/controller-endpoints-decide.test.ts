// The endpoints decision as tables: which pods are addresses (ready or not), how target
// ports resolve, how subsets group, and what is written against what is stored.
import t from 'tap';
import { Pod, Service, type Endpoints } from '@flotilla/proto';
import {
  decideEndpointsWrite,
  desiredEndpoints,
  readyTargets,
  type DesiredEndpoints,
} from '@flotilla/controller';

interface PodOptions {
  namespace?: string;
  labels?: Record<string, string>;
  ip?: string;
  node?: string;
  ready?: boolean;
  deleting?: boolean;
  phase?: string;
  ports?: { name: string; containerPort: number; protocol?: string }[];
}

function makePod(name: string, o: PodOptions = {}): Pod {
  return Pod.fromJSON({
    metadata: {
      name,
      namespace: o.namespace ?? 'default',
      uid: `uid-${name}`,
      labels: o.labels ?? { app: 'web' },
      ...(o.deleting ? { deletionTimestamp: '2026-12-01T00:00:00Z' } : {}),
    },
    spec: {
      nodeName: o.node ?? 'n1',
      containers: [{ name: 'c', image: 'web', ports: o.ports ?? [] }],
    },
    status: {
      phase: o.phase ?? 'Running',
      podIP: o.ip ?? '',
      conditions: [{ type: 'Ready', status: (o.ready ?? true) ? 'True' : 'False' }],
    },
  });
}

function makeService(
  ports: { name?: string; port: number; targetPort?: string; protocol?: string }[] = [{ port: 80 }],
  selector: Record<string, string> = { app: 'web' },
  namespace = 'default',
): Service {
  return Service.fromJSON({
    metadata: { name: 'web', namespace, labels: { tier: 'front' } },
    spec: { selector, ports },
  });
}

/** Each subset as "ports | ready | notReady", pods by name. */
function summary(d: DesiredEndpoints | undefined): string[] | undefined {
  return d?.subsets.map(
    (s) =>
      `${s.ports.map((p) => `${p.name || '-'}:${p.port}/${p.protocol}`).join(',')} | ` +
      `${s.addresses.map((a) => `${a.targetRef?.name}@${a.ip}`).join(',')} | ` +
      `${s.notReadyAddresses.map((a) => `${a.targetRef?.name}@${a.ip}`).join(',')}`,
  );
}

t.test('readiness, addresses and selection', async (t) => {
  const cases: { name: string; service?: Service; pods: Pod[]; want: string[] | undefined }[] = [
    {
      name: 'ready pods are addresses, sorted by IP numerically',
      pods: [makePod('b', { ip: '10.0.0.10' }), makePod('a', { ip: '10.0.0.9' })],
      want: ['-:80/TCP | a@10.0.0.9,b@10.0.0.10 | '],
    },
    {
      name: 'a pod whose Ready condition is False is a not-ready address',
      pods: [makePod('a', { ip: '10.0.0.1' }), makePod('b', { ip: '10.0.0.2', ready: false })],
      want: ['-:80/TCP | a@10.0.0.1 | b@10.0.0.2'],
    },
    {
      name: 'a pod marked for deletion is not ready even with Ready True',
      pods: [makePod('a', { ip: '10.0.0.1', deleting: true })],
      want: ['-:80/TCP |  | a@10.0.0.1'],
    },
    {
      name: 'pods without an IP or without a node are not addresses',
      pods: [makePod('a'), makePod('b', { ip: '10.0.0.2', node: '' }), makePod('c', { ip: '10.0.0.3' })],
      want: ['-:80/TCP | c@10.0.0.3 | '],
    },
    {
      name: 'finished pods are not addresses',
      pods: [
        makePod('a', { ip: '10.0.0.1', phase: 'Succeeded' }),
        makePod('b', { ip: '10.0.0.2', phase: 'Failed' }),
      ],
      want: [],
    },
    {
      name: 'pods of another namespace or with other labels are left out',
      pods: [
        makePod('a', { ip: '10.0.0.1', namespace: 'other' }),
        makePod('b', { ip: '10.0.0.2', labels: { app: 'api' } }),
        makePod('c', { ip: '10.0.0.3', labels: { app: 'web', extra: 'x' } }),
      ],
      want: ['-:80/TCP | c@10.0.0.3 | '],
    },
    {
      name: 'a selector with two pairs needs both',
      service: makeService([{ port: 80 }], { app: 'web', tier: 'front' }),
      pods: [
        makePod('a', { ip: '10.0.0.1' }),
        makePod('b', { ip: '10.0.0.2', labels: { app: 'web', tier: 'front' } }),
      ],
      want: ['-:80/TCP | b@10.0.0.2 | '],
    },
    {
      name: 'no matching pods: an Endpoints object with no subsets',
      pods: [],
      want: [],
    },
    {
      name: 'a service without a selector has no managed Endpoints',
      service: makeService([{ port: 80 }], {}),
      pods: [makePod('a', { ip: '10.0.0.1', labels: {} })],
      want: undefined,
    },
  ];
  for (const c of cases) {
    t.same(summary(desiredEndpoints(c.service ?? makeService(), c.pods)), c.want, c.name);
  }
});

t.test('target ports: numbers, empty, named container ports, several ports', async (t) => {
  const http = [{ name: 'http', containerPort: 8080 }];
  const cases: { name: string; service: Service; pods: Pod[]; want: string[] }[] = [
    {
      name: 'a number',
      service: makeService([{ port: 80, targetPort: '8080' }]),
      pods: [makePod('a', { ip: '10.0.0.1' })],
      want: ['-:8080/TCP | a@10.0.0.1 | '],
    },
    {
      name: 'empty is the service port',
      service: makeService([{ port: 80, targetPort: '' }]),
      pods: [makePod('a', { ip: '10.0.0.1' })],
      want: ['-:80/TCP | a@10.0.0.1 | '],
    },
    {
      name: 'a name resolves per pod; pods that resolve alike share a subset',
      service: makeService([{ name: 'web', port: 80, targetPort: 'http' }]),
      pods: [
        makePod('a', { ip: '10.0.0.1', ports: http }),
        makePod('b', { ip: '10.0.0.2', ports: [{ name: 'http', containerPort: 9090 }] }),
        makePod('c', { ip: '10.0.0.3', ports: http, ready: false }),
      ],
      want: ['web:8080/TCP | a@10.0.0.1 | c@10.0.0.3', 'web:9090/TCP | b@10.0.0.2 | '],
    },
    {
      name: 'a pod without the named port is left out of that port',
      service: makeService([{ name: 'web', port: 80, targetPort: 'http' }]),
      pods: [makePod('a', { ip: '10.0.0.1' }), makePod('b', { ip: '10.0.0.2', ports: http })],
      want: ['web:8080/TCP | b@10.0.0.2 | '],
    },
    {
      name: 'a named port must have the service port protocol',
      service: makeService([{ name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP' }]),
      pods: [
        makePod('a', { ip: '10.0.0.1', ports: [{ name: 'dns', containerPort: 5353, protocol: 'TCP' }] }),
        makePod('b', { ip: '10.0.0.2', ports: [{ name: 'dns', containerPort: 5353, protocol: 'UDP' }] }),
      ],
      want: ['dns:5353/UDP | b@10.0.0.2 | '],
    },
    {
      name: 'several ports in one subset; a pod missing one gets a subset of its own',
      service: makeService([
        { name: 'web', port: 80, targetPort: 'http' },
        { name: 'metrics', port: 9100, targetPort: '9100' },
      ]),
      pods: [makePod('a', { ip: '10.0.0.1', ports: http }), makePod('b', { ip: '10.0.0.2' })],
      want: ['metrics:9100/TCP | b@10.0.0.2 | ', 'metrics:9100/TCP,web:8080/TCP | a@10.0.0.1 | '],
    },
  ];
  for (const c of cases) t.same(summary(desiredEndpoints(c.service, c.pods)), c.want, c.name);
});

t.test('pods on a node that is not Ready are not ready addresses', async (t) => {
  const pods = [makePod('a', { ip: '10.0.0.1', node: 'n1' }), makePod('b', { ip: '10.0.0.2', node: 'n2' })];
  const d = desiredEndpoints(makeService(), pods, { nodeReady: (n) => n === 'n1' });
  t.same(summary(d), ['-:80/TCP | a@10.0.0.1 | b@10.0.0.2']);
  t.same(
    summary(desiredEndpoints(makeService(), pods)),
    ['-:80/TCP | a@10.0.0.1,b@10.0.0.2 | '],
    'by default every node is',
  );
});

t.test('at most maxAddresses, ready ones first, marked over capacity', async (t) => {
  const pods = [
    makePod('a', { ip: '10.0.0.1', ready: false }),
    makePod('b', { ip: '10.0.0.2' }),
    makePod('c', { ip: '10.0.0.3' }),
    makePod('d', { ip: '10.0.0.4', ready: false }),
  ];
  const d = desiredEndpoints(makeService(), pods, { maxAddresses: 3 });
  t.same(summary(d), ['-:80/TCP | b@10.0.0.2,c@10.0.0.3 | a@10.0.0.1']);
  t.equal(d?.truncated, true);
  const ctx = { now: new Date(0), uid: () => 'u' };
  const create = decideEndpointsWrite('default', 'web', makeService(), d, undefined, ctx);
  t.same(create?.type === 'create' && create.value.metadata?.annotations, {
    'endpoints.kubernetes.io/over-capacity': 'truncated',
  });
  const fits = desiredEndpoints(makeService(), pods.slice(1, 3), { maxAddresses: 3 });
  t.equal(fits?.truncated, false);
  if (create?.type !== 'create') return;
  const update = decideEndpointsWrite(
    'default',
    'web',
    makeService(),
    fits,
    { value: create.value, modRevision: 3 },
    ctx,
  );
  t.same(
    update?.type === 'update' && update.value.metadata?.annotations,
    {},
    'fits again: the annotation goes',
  );
});

t.test('addresses carry the node and the pod reference', async (t) => {
  const d = desiredEndpoints(makeService(), [makePod('a', { ip: '10.0.0.1', node: 'n7' })]);
  t.same(d?.subsets[0]?.addresses[0], {
    ip: '10.0.0.1',
    nodeName: 'n7',
    targetRef: {
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: 'default',
      name: 'a',
      uid: 'uid-a',
      resourceVersion: '',
      fieldPath: '',
    },
  });
  t.same(d?.labels, { tier: 'front' }, "the service's labels");
  t.equal(d?.name, 'web');
});

t.test('what to write against what is stored', async (t) => {
  const ctx = { now: new Date('2026-12-01T10:00:00Z'), uid: () => 'new-uid' };
  const service = makeService();
  const desired = desiredEndpoints(service, [makePod('a', { ip: '10.0.0.1' })]);
  const create = decideEndpointsWrite('default', 'web', service, desired, undefined, ctx);
  t.equal(create?.type, 'create', 'none stored: create');
  if (create?.type !== 'create') return;
  t.equal(create.value.metadata?.uid, 'new-uid');
  t.equal(create.value.metadata?.creationTimestamp, '2026-12-01T10:00:00.000Z');
  t.equal(create.value.kind, 'Endpoints');

  const stored = { value: create.value, modRevision: 7 };
  t.equal(
    decideEndpointsWrite('default', 'web', service, desired, stored, ctx),
    undefined,
    'the same: nothing to write',
  );

  const moved = desiredEndpoints(service, [makePod('a', { ip: '10.0.0.1', ready: false })]);
  const update = decideEndpointsWrite('default', 'web', service, moved, stored, {
    now: new Date('2026-12-01T11:00:00Z'),
    uid: () => 'other',
  });
  t.equal(update?.type, 'update', 'a pod turning not ready: update');
  if (update?.type !== 'update') return;
  t.equal(update.expect, 7, 'guarded by the stored revision');
  t.equal(update.value.metadata?.uid, 'new-uid', 'keeps its uid');
  t.equal(update.value.metadata?.creationTimestamp, '2026-12-01T10:00:00.000Z', 'and its creation time');
  t.same(update.value.subsets[0]?.addresses, []);

  const relabelled = makeService();
  relabelled.metadata = { ...relabelled.metadata!, labels: { tier: 'back' } };
  t.equal(
    decideEndpointsWrite(
      'default',
      'web',
      relabelled,
      desiredEndpoints(relabelled, [makePod('a', { ip: '10.0.0.1' })]),
      stored,
      ctx,
    )?.type,
    'update',
    "the service's labels changed: update",
  );

  const gone = decideEndpointsWrite('default', 'web', undefined, undefined, stored, ctx);
  t.same(gone, {
    type: 'delete',
    key: { namespace: 'default', name: 'web' },
    expect: 7,
    why: 'the service is gone',
  });
  const noSelector = makeService([{ port: 80 }], {});
  t.equal(
    decideEndpointsWrite('default', 'web', noSelector, desiredEndpoints(noSelector, []), stored, ctx)?.type,
    'delete',
    'selector removed: delete',
  );
  t.equal(
    decideEndpointsWrite('default', 'web', undefined, undefined, undefined, ctx),
    undefined,
    'nothing either way',
  );
});

t.test('ready targets per service port, for the proxy', async (t) => {
  const service = makeService([
    { name: 'web', port: 80, targetPort: 'http' },
    { name: 'dns', port: 53, targetPort: '53', protocol: 'UDP' },
  ]);
  const http = [{ name: 'http', containerPort: 8080 }];
  const d = desiredEndpoints(service, [
    makePod('b', { ip: '10.0.0.2', ports: http, node: 'n2' }),
    makePod('a', { ip: '10.0.0.1', ports: http }),
    makePod('c', { ip: '10.0.0.3', ports: http, ready: false }),
    makePod('d', { ip: '10.0.0.4' }),
  ]);
  const endpoints: Endpoints = {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: undefined,
    subsets: d?.subsets ?? [],
  };
  t.same(readyTargets(endpoints, 'web'), [
    { ip: '10.0.0.1', port: 8080, nodeName: 'n1', podNamespace: 'default', podName: 'a' },
    { ip: '10.0.0.2', port: 8080, nodeName: 'n2', podNamespace: 'default', podName: 'b' },
  ]);
  t.same(
    readyTargets(endpoints, 'dns', 'UDP').map((x) => x.podName),
    ['a', 'b', 'd'],
  );
  t.same(readyTargets(endpoints, 'dns', 'TCP'), [], 'the protocol counts');
  t.same(readyTargets(undefined, 'web'), []);
});
