// How nodes look: STATUS as kubectl reads the Ready condition, table rows, -o wide, and
// the -o json|yaml documents.
import t from 'tap';
import {
  isNodeReady,
  nodeAddress,
  nodeColumns,
  nodeDocument,
  nodeListDocument,
  nodeRow,
  nodeStatus,
  nodeWideColumns,
  nodesTable,
  outputFormats,
  renderDocument,
} from '@flotilla/deploy';
import { Node, type NodeAddress } from '@flotilla/proto';

const now = new Date('2026-03-01T12:00:00Z');

interface NodeOptions {
  name?: string;
  /** The Ready condition's status: true, false, 'Unknown', or undefined for no condition. */
  ready?: boolean | 'Unknown';
  reason?: string;
  heartbeat?: string;
  cordoned?: boolean;
  cpu?: string;
  memory?: string;
  created?: string;
  addresses?: NodeAddress[];
  labels?: Record<string, string>;
  apiVersion?: string;
  kind?: string;
}

function makeNode(options: NodeOptions = {}): Node {
  const readyStatus =
    options.ready === undefined
      ? undefined
      : options.ready === 'Unknown'
        ? 'Unknown'
        : options.ready
          ? 'True'
          : 'False';
  const capacity: Record<string, string> = {};
  if (options.cpu !== undefined) capacity.cpu = options.cpu;
  if (options.memory !== undefined) capacity.memory = options.memory;
  return {
    apiVersion: options.apiVersion ?? '',
    kind: options.kind ?? '',
    metadata: {
      name: options.name ?? 'node-1',
      namespace: '',
      uid: 'uid-1',
      resourceVersion: '7',
      generation: 1,
      creationTimestamp: options.created ?? '2026-03-01T11:54:30Z',
      deletionTimestamp: '',
      labels: options.labels ?? {},
      annotations: {},
      ownerReferences: [],
    },
    spec: { podCIDR: '', unschedulable: options.cordoned ?? false, taints: [] },
    status: {
      daemonEndpoints: undefined,
      images: [],
      capacity,
      allocatable: {},
      conditions:
        readyStatus === undefined
          ? []
          : [
              {
                type: 'Ready',
                status: readyStatus,
                lastHeartbeatTime: options.heartbeat ?? '2026-03-01T11:59:50Z',
                lastTransitionTime: '2026-03-01T11:55:00Z',
                reason: options.reason ?? (readyStatus === 'True' ? 'AgentReady' : 'HeartbeatsStopped'),
                message: '',
              },
            ],
      addresses: options.addresses ?? [{ type: 'InternalIP', address: '10.0.0.1' }],
      nodeInfo: {
        machineID: 'm',
        bootID: 'b',
        kernelVersion: '6.1.0',
        osImage: 'Debian GNU/Linux 12',
        operatingSystem: 'linux',
        architecture: 'amd64',
        containerRuntimeVersion: 'containerd://1.7.0',
        agentVersion: '0.1.0',
      },
    },
  };
}

const bareNode: Node = { apiVersion: '', kind: '', metadata: undefined, spec: undefined, status: undefined };

t.test('STATUS reads the Ready condition as kubectl does', async (t) => {
  const cases: Array<[NodeOptions, string, boolean]> = [
    [{ ready: true }, 'Ready', true],
    [{ ready: false }, 'NotReady', false],
    [{ ready: 'Unknown' }, 'NotReady', false],
    [{}, 'Unknown', false],
    [{ ready: true, cordoned: true }, 'Ready,SchedulingDisabled', true],
    [{ ready: false, cordoned: true }, 'NotReady,SchedulingDisabled', false],
    [{ cordoned: true }, 'Unknown,SchedulingDisabled', false],
  ];
  for (const [options, status, ready] of cases) {
    const node = makeNode(options);
    t.equal(nodeStatus(node), status, JSON.stringify(options));
    t.equal(isNodeReady(node), ready, `${JSON.stringify(options)} is ${ready ? '' : 'not '}ready`);
  }
  t.equal(nodeStatus(bareNode), 'Unknown', 'a node without status');
  t.equal(isNodeReady(bareNode), false);
});

t.test('only the Ready condition decides STATUS', async (t) => {
  const node = makeNode({ ready: false });
  node.status?.conditions.unshift({
    type: 'DiskPressure',
    status: 'True',
    lastHeartbeatTime: '',
    lastTransitionTime: '',
    reason: '',
    message: '',
  });
  t.equal(nodeStatus(node), 'NotReady');
  t.equal(isNodeReady(node), false);
});

t.test('ADDRESS is the InternalIP, else the first address, else <none>', async (t) => {
  const cases: Array<[NodeAddress[], string]> = [
    [[{ type: 'InternalIP', address: '10.0.0.1' }], '10.0.0.1'],
    [
      [
        { type: 'Hostname', address: 'node-1' },
        { type: 'InternalIP', address: '10.0.0.2' },
      ],
      '10.0.0.2',
    ],
    [
      [
        { type: 'Hostname', address: 'node-1' },
        { type: 'ExternalIP', address: '203.0.113.5' },
      ],
      'node-1',
    ],
    [[], '<none>'],
  ];
  for (const [addresses, shown] of cases) t.equal(nodeAddress(makeNode({ addresses })), shown, shown);
  t.equal(nodeAddress(bareNode), '<none>');
});

t.test('a row shows NAME, STATUS, AGE, CPU, MEMORY and ADDRESS', async (t) => {
  const node = makeNode({ ready: true, cpu: '4', memory: '24563716Ki' });
  t.same(nodeColumns, ['NAME', 'STATUS', 'AGE', 'CPU', 'MEMORY', 'ADDRESS']);
  t.same(nodeRow(node, now, false), ['node-1', 'Ready', '5m30s', '4', '23.4Gi', '10.0.0.1']);
  t.same(nodeRow(makeNode({ ready: true, cpu: '3500m', memory: '8Gi' }), now, false).slice(3, 5), [
    '3500m',
    '8Gi',
  ]);
});

t.test('-o wide adds OS image, kernel, runtime, agent, last heartbeat and reason', async (t) => {
  const row = nodeRow(
    makeNode({ ready: 'Unknown', reason: 'HeartbeatsStopped', cpu: '2', memory: '4Gi' }),
    now,
    true,
  );
  t.equal(row.length, nodeWideColumns.length, 'one cell per column');
  t.same(nodeWideColumns.slice(0, nodeColumns.length), nodeColumns, 'the narrow columns first');
  const cell = (column: string): string | undefined =>
    row[nodeWideColumns.indexOf(column as (typeof nodeWideColumns)[number])];
  t.equal(cell('STATUS'), 'NotReady');
  t.equal(cell('OS-IMAGE'), 'Debian GNU/Linux 12');
  t.equal(cell('KERNEL'), '6.1.0');
  t.equal(cell('RUNTIME'), 'containerd://1.7.0');
  t.equal(cell('AGENT'), '0.1.0');
  t.equal(cell('LAST-HEARTBEAT'), '10s ago');
  t.equal(cell('REASON'), 'HeartbeatsStopped');
});

t.test('a node the controller knows little about shows <none> and <unknown>, not blanks', async (t) => {
  t.same(nodeRow(bareNode, now, false), ['<none>', 'Unknown', '<unknown>', '<none>', '<none>', '<none>']);
  const wide = nodeRow(bareNode, now, true);
  t.equal(wide.length, nodeWideColumns.length);
  t.notOk(
    wide.some((cell) => cell === ''),
    'no empty cell',
  );
  t.equal(
    nodeRow(makeNode({ ready: true, cpu: 'lots' }), now, false)[3],
    'lots',
    'an unreadable quantity as given',
  );
});

t.test('the nodes table is sorted by name under its header', async (t) => {
  const table = nodesTable(
    [makeNode({ name: 'node-b', ready: false }), makeNode({ name: 'node-a', ready: true, cordoned: true })],
    now,
    false,
  );
  const lines = table.trimEnd().split('\n');
  t.equal(lines.length, 3);
  t.match(lines[0], /^NAME +STATUS +AGE +CPU +MEMORY +ADDRESS$/);
  t.match(lines[1], /^node-a +Ready,SchedulingDisabled +5m30s /);
  t.match(lines[2], /^node-b +NotReady +5m30s /);
  t.match(nodesTable([makeNode({ ready: true })], now, true), /^NAME .* LAST-HEARTBEAT +REASON\n/);
});

t.test('-o accepts wide, json and yaml', async (t) => {
  t.same(outputFormats, ['wide', 'json', 'yaml']);
});

t.test('a node document is the node as Node.toJSON writes it, apiVersion and kind first', async (t) => {
  const node = makeNode({ ready: true, cpu: '4', labels: { zone: 'a' } });
  const doc = nodeDocument(node);
  t.same(Object.keys(doc).slice(0, 2), ['apiVersion', 'kind']);
  t.equal(doc.apiVersion, 'v1', 'filled in when the server left it out');
  t.equal(doc.kind, 'Node');
  const { apiVersion: _a, kind: _k, ...rest } = doc;
  t.same(rest, Node.toJSON(node), 'the rest is Node.toJSON');
  t.same(Node.fromJSON(doc), { ...node, apiVersion: 'v1', kind: 'Node' }, 'it reads back as the same node');
});

t.test('a node document keeps the apiVersion and kind the server sent', async (t) => {
  const doc = nodeDocument(makeNode({ apiVersion: 'flotilla.dev/v1', kind: 'Node' }));
  t.equal(doc.apiVersion, 'flotilla.dev/v1');
  t.same(Object.keys(doc).slice(0, 2), ['apiVersion', 'kind']);
  t.same(nodeDocument(bareNode), { apiVersion: 'v1', kind: 'Node' });
});

t.test('a list document is a kubectl List of node documents sorted by name', async (t) => {
  const doc = nodeListDocument([makeNode({ name: 'b' }), makeNode({ name: 'a' })]);
  t.same(Object.keys(doc), ['apiVersion', 'kind', 'items']);
  t.equal(doc.apiVersion, 'v1');
  t.equal(doc.kind, 'List');
  t.same(
    (doc.items as Array<Record<string, unknown>>).map((item) => (item.metadata as { name: string }).name),
    ['a', 'b'],
  );
  t.same(
    nodeListDocument([]),
    { apiVersion: 'v1', kind: 'List', items: [] },
    'an empty list is still a List',
  );
});

t.test('-o json prints the document as indented JSON ending in a newline', async (t) => {
  const doc = nodeListDocument([makeNode({ ready: true })]);
  const text = renderDocument(doc, 'json');
  t.ok(text.endsWith('}\n'));
  t.match(text, /^\{\n {2}"apiVersion": "v1",\n {2}"kind": "List",\n {2}"items": \[/);
  t.same(JSON.parse(text), doc);
});

t.test('-o yaml prints the same document as YAML', async (t) => {
  const node = makeNode({ ready: true, cpu: '4', memory: '8Gi' });
  const text = renderDocument(nodeListDocument([node]), 'yaml');
  t.match(
    text,
    /^apiVersion: v1\nkind: List\nitems:\n {2}- apiVersion: v1\n {4}kind: Node\n {4}metadata:\n {6}name: node-1\n/,
  );
  t.match(text, /\n {8}cpu: "4"\n/, 'a number-like string stays a string');
  t.match(text, /\n {10}status: "True"\n/, 'a boolean-like string stays a string');
  t.ok(text.endsWith('\n'));
});
