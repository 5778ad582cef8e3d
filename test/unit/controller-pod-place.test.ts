// Placement until the scheduler lands: the first node in name order that fits, and
// Kubernetes-style reasons when none does.
import t from 'tap';
import { Node, Pod } from '@flotilla/proto';
import { placePod, podRequests } from '@flotilla/controller';

interface NodeSpec {
  name: string;
  ready?: boolean;
  unschedulable?: boolean;
  labels?: Record<string, string>;
  cpu?: string;
  memory?: string;
  pods?: string;
  taint?: boolean;
}

function node(s: NodeSpec): Node {
  return Node.fromJSON({
    metadata: { name: s.name, labels: s.labels ?? {} },
    spec: {
      unschedulable: s.unschedulable ?? false,
      taints: s.taint ? [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] : [],
    },
    status: {
      allocatable: { cpu: s.cpu ?? '2', memory: s.memory ?? '1Gi', ...(s.pods ? { pods: s.pods } : {}) },
      conditions: [{ type: 'Ready', status: s.ready === false ? 'Unknown' : 'True' }],
    },
  });
}

interface PodSpec {
  name: string;
  node?: string;
  cpu?: string;
  memory?: string;
  limitOnly?: boolean;
  hostPort?: number;
  hostIP?: string;
  protocol?: string;
  phase?: string;
  selector?: Record<string, string>;
}

function pod(s: PodSpec): Pod {
  const amounts: Record<string, string> = {};
  if (s.cpu) amounts.cpu = s.cpu;
  if (s.memory) amounts.memory = s.memory;
  return Pod.fromJSON({
    metadata: { name: s.name, namespace: 'default' },
    spec: {
      nodeName: s.node ?? '',
      nodeSelector: s.selector ?? {},
      containers: [
        {
          name: 'c',
          image: 'busybox',
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
    status: { phase: s.phase ?? 'Running' },
  });
}

t.test('the first fitting node in name order', async (t) => {
  const nodes = [node({ name: 'b' }), node({ name: 'a' }), node({ name: 'c' })];
  t.same(placePod(pod({ name: 'x' }), nodes, []), { nodeName: 'a' });
});

t.test('not ready, cordoned and tainted nodes are skipped', async (t) => {
  const nodes = [
    node({ name: 'a', ready: false }),
    node({ name: 'b', unschedulable: true }),
    node({ name: 'c', taint: true }),
    node({ name: 'd' }),
  ];
  t.same(placePod(pod({ name: 'x' }), nodes, []), { nodeName: 'd' });
  const none = placePod(pod({ name: 'x' }), nodes.slice(0, 3), []);
  t.equal(
    none.nodeName === undefined ? none.message : '',
    '0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 1 node(s) were not ready, 1 node(s) were unschedulable',
  );
});

t.test('nodeSelector must match the node labels', async (t) => {
  const nodes = [node({ name: 'a', labels: { zone: 'z1' } }), node({ name: 'b', labels: { zone: 'z2' } })];
  t.same(placePod(pod({ name: 'x', selector: { zone: 'z2' } }), nodes, []), { nodeName: 'b' });
  const none = placePod(pod({ name: 'x', selector: { zone: 'z3' } }), nodes, []);
  t.match(none, { nodeName: undefined, message: /2 node\(s\) didn't match Pod's node affinity\/selector/ });
});

t.test('requests must fit in allocatable minus the unfinished pods bound there', async (t) => {
  const nodes = [node({ name: 'a', memory: '1Gi' }), node({ name: 'b', memory: '1Gi' })];
  const bound = [
    pod({ name: 'p1', node: 'a', memory: '768Mi' }),
    pod({ name: 'p2', node: 'b', memory: '768Mi', phase: 'Succeeded' }),
  ];
  t.same(
    placePod(pod({ name: 'x', memory: '512Mi' }), nodes, bound),
    { nodeName: 'b' },
    'a finished pod frees its memory',
  );
  t.same(placePod(pod({ name: 'x', memory: '256Mi' }), nodes, bound), { nodeName: 'a' }, 'exactly full fits');
  const big = placePod(pod({ name: 'x', memory: '2Gi' }), nodes, bound);
  t.match(big, { message: '0/2 nodes are available: 2 insufficient memory' });
  const cpu = placePod(pod({ name: 'x', cpu: '2500m' }), nodes, []);
  t.match(cpu, { message: '0/2 nodes are available: 2 insufficient cpu' });
});

t.test('a limit without a request counts as the request', async (t) => {
  t.same(
    [...podRequests(pod({ name: 'x', memory: '64Mi', cpu: '0.5', limitOnly: true }))],
    [
      ['cpu', 500n],
      ['memory', 64n << 20n],
    ],
  );
});

t.test('host ports must be free on the node', async (t) => {
  const nodes = [node({ name: 'a' }), node({ name: 'b' })];
  const bound = [
    pod({ name: 'p1', node: 'a', hostPort: 8080 }),
    pod({ name: 'p2', node: 'b', hostPort: 9090, hostIP: '127.0.0.1' }),
  ];
  t.same(placePod(pod({ name: 'x', hostPort: 8080 }), nodes, bound), { nodeName: 'b' });
  t.same(
    placePod(pod({ name: 'x', hostPort: 8080, protocol: 'UDP' }), nodes, bound),
    { nodeName: 'a' },
    'another protocol',
  );
  t.same(placePod(pod({ name: 'x', hostPort: 9090, hostIP: '127.0.0.2' }), nodes, bound), { nodeName: 'a' });
  t.same(
    placePod(pod({ name: 'x', hostPort: 9090 }), nodes, bound),
    { nodeName: 'a' },
    '0.0.0.0 collides with 127.0.0.1 on b',
  );
  const finished = [pod({ name: 'p1', node: 'a', hostPort: 8080, phase: 'Failed' })];
  t.same(
    placePod(pod({ name: 'x', hostPort: 8080 }), nodes, finished),
    { nodeName: 'a' },
    'a finished pod frees its port',
  );
});

t.test('the message counts every reason over the nodes', async (t) => {
  const nodes = [node({ name: 'a', memory: '128Mi' }), node({ name: 'b' })];
  const bound = [pod({ name: 'p', node: 'b', hostPort: 80 })];
  const none = placePod(pod({ name: 'x', memory: '256Mi', hostPort: 80 }), nodes, bound);
  t.same(none, {
    nodeName: undefined,
    message:
      "0/2 nodes are available: 1 insufficient memory, 1 node(s) didn't have free ports for the requested pod ports",
  });
  t.match(placePod(pod({ name: 'x' }), [], []), { message: /0\/0 nodes are available/ });
});

t.test('allocatable pods caps the count', async (t) => {
  const nodes = [node({ name: 'a', pods: '1' })];
  t.match(placePod(pod({ name: 'x' }), nodes, [pod({ name: 'p', node: 'a' })]), {
    message: '0/1 nodes are available: 1 too many pods',
  });
});
