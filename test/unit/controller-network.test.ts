// The cluster network: the NetworkState builder, the drain decision (pure), and the
// ClusterNetwork over informers of an in-memory store (follow coalesces and sends only
// on change; a drain resolves on the acknowledgement, not by polling).
import t, { type Test } from 'tap';
import { Endpoints, NetworkApplied, Node, Pod, Service, type NetworkState } from '@flotilla/proto';
import { applyNetworkDelta } from '@flotilla/agent';
import { createLogger, subjects } from '@flotilla/common';
import {
  buildNetworkState,
  buildSharedNetwork,
  coalesceDelayMs,
  diffSharedNetwork,
  followersDelayMs,
  heldChanges,
  mergeNetworkChanges,
  networkDeltaFor,
  ControllerClusterNetwork,
  drainDecision,
  endpointsCodec,
  Informer,
  keys,
  MemoryStore,
  nodeCodec,
  parseLabelSelector,
  podCodec,
  putOp,
  serviceCodec,
  type NetworkConfig,
} from '@flotilla/controller';

const log = createLogger({ component: 'test' }, { level: 'error' });

const config: NetworkConfig = {
  clusterDomain: 'cluster.local',
  serviceCidr: '10.96.0.0/16',
  clusterCidr: '10.244.0.0/16',
  webFacing: parseLabelSelector('flotilla.io/web-facing=true'),
};

function makeNode(
  name: string,
  o: { podCIDR?: string; ip?: string; ready?: boolean; labels?: Record<string, string> } = {},
): Node {
  return Node.fromJSON({
    metadata: { name, labels: o.labels ?? {} },
    spec: { podCIDR: o.podCIDR ?? '' },
    status: {
      addresses: [
        { type: 'Hostname', address: name },
        ...(o.ip ? [{ type: 'InternalIP', address: o.ip }] : []),
      ],
      conditions: [{ type: 'Ready', status: o.ready === false ? 'Unknown' : 'True' }],
    },
  });
}

function makeService(name: string, o: { type?: string; clusterIP?: string; ports?: object[] } = {}): Service {
  return Service.fromJSON({
    metadata: { namespace: 'default', name },
    spec: {
      type: o.type ?? 'ClusterIP',
      clusterIP: o.clusterIP ?? '10.96.0.10',
      ports: o.ports ?? [{ name: '', protocol: 'TCP', port: 80, targetPort: '8080', nodePort: 0 }],
    },
  });
}

interface Addr {
  ip: string;
  node?: string;
  pod?: string;
  uid?: string;
}
const address = (a: Addr): object => ({
  ip: a.ip,
  nodeName: a.node ?? 'n1',
  targetRef: { kind: 'Pod', namespace: 'default', name: a.pod ?? `pod-${a.ip}`, uid: a.uid ?? `uid-${a.ip}` },
});

function makeEndpoints(
  name: string,
  subsets: {
    ready?: Addr[];
    notReady?: Addr[];
    ports?: { name?: string; port: number; protocol?: string }[];
  }[],
): Endpoints {
  return Endpoints.fromJSON({
    metadata: { namespace: 'default', name },
    subsets: subsets.map((s) => ({
      addresses: (s.ready ?? []).map(address),
      notReadyAddresses: (s.notReady ?? []).map(address),
      ports: (s.ports ?? [{ name: '', port: 8080, protocol: 'TCP' }]).map((p) => ({
        name: p.name ?? '',
        port: p.port,
        protocol: p.protocol ?? 'TCP',
      })),
    })),
  });
}

t.test('buildNetworkState: nodes with pod CIDRs, services resolved to ready targets', async (t) => {
  const nodes = [
    makeNode('n2', { podCIDR: '10.244.1.0/24', ip: '192.168.1.2', ready: false }),
    makeNode('n1', {
      podCIDR: '10.244.0.0/24',
      ip: '192.168.1.1',
      labels: { 'flotilla.io/web-facing': 'true' },
    }),
    makeNode('n3', { ip: '192.168.1.3' }),
  ];
  const services = [
    makeService('web', {
      type: 'NodePort',
      ports: [
        { name: 'http', protocol: 'TCP', port: 80, targetPort: 'http', nodePort: 30080 },
        { name: 'dns', protocol: 'UDP', port: 53, targetPort: '53', nodePort: 30053 },
      ],
    }),
    makeService('api', {
      clusterIP: '10.96.0.20',
      ports: [{ name: '', protocol: 'TCP', port: 443, nodePort: 0 }],
    }),
    makeService('pending', { clusterIP: '' }),
    makeService('empty', { clusterIP: '10.96.0.30' }),
  ];
  const endpoints = [
    makeEndpoints('web', [
      {
        ready: [{ ip: '10.244.1.5', node: 'n2' }, { ip: '10.244.0.5' }],
        notReady: [{ ip: '10.244.0.9' }],
        ports: [{ name: 'http', port: 8080 }],
      },
      {
        ready: [{ ip: '10.244.0.7' }],
        ports: [
          { name: 'http', port: 9090 },
          { name: 'dns', port: 53, protocol: 'UDP' },
        ],
      },
    ]),
    makeEndpoints('api', [{ ready: [{ ip: '10.244.0.6', pod: 'api-1' }], ports: [{ port: 8443 }] }]),
  ];
  const snapshot = { nodes, services, endpoints, endpointsRevision: 42 };
  const state = buildNetworkState(snapshot, config, 'n1');
  t.same(
    state.nodes,
    [
      { name: 'n1', internalIP: '192.168.1.1', podCIDR: '10.244.0.0/24', ready: true },
      { name: 'n2', internalIP: '192.168.1.2', podCIDR: '10.244.1.0/24', ready: false },
    ],
    'nodes with a pod CIDR, by name, with InternalIP and Ready',
  );
  t.same(
    state.services.map((s) => s.name),
    ['api', 'empty', 'web'],
    'services with a cluster IP, by namespace/name',
  );
  const web = state.services.find((s) => s.name === 'web');
  t.equal(web?.type, 'NodePort');
  t.same(
    web?.ports[0]?.endpoints.map((e) => `${e.ip}:${e.port}@${e.nodeName}`),
    ['10.244.0.5:8080@n1', '10.244.0.7:9090@n1', '10.244.1.5:8080@n2'],
    'each subset by port name, ready addresses only, in a stable order',
  );
  t.equal(web?.ports[0]?.nodePort, 30080);
  t.same(
    web?.ports[1],
    {
      name: 'dns',
      protocol: 'UDP',
      port: 53,
      nodePort: 30053,
      endpoints: [
        { ip: '10.244.0.7', port: 53, nodeName: 'n1', podNamespace: 'default', podName: 'pod-10.244.0.7' },
      ],
    },
    'a second port resolves through its own name',
  );
  const api = state.services.find((s) => s.name === 'api');
  t.same(
    api?.ports[0]?.endpoints,
    [{ ip: '10.244.0.6', port: 8443, nodeName: 'n1', podNamespace: 'default', podName: 'api-1' }],
    'an unnamed port',
  );
  t.equal(api?.ports[0]?.nodePort, 0, 'ClusterIP services have no node port');
  t.same(state.services.find((s) => s.name === 'empty')?.ports[0]?.endpoints, [], 'no endpoints: empty');
  t.equal(state.webFacing, true, 'n1 carries the web-facing label');
  t.equal(buildNetworkState(snapshot, config, 'n2').webFacing, false, 'n2 does not');
  t.equal(
    buildNetworkState(snapshot, config, 'unknown').webFacing,
    false,
    'an unknown node is not web-facing',
  );
  t.equal(state.endpointsRevision, 42);
  t.equal(state.clusterDomain, 'cluster.local');
  t.equal(state.serviceCidr, '10.96.0.0/16');
  t.equal(state.clusterCidr, '10.244.0.0/16');
});

t.test('drainDecision: endpoints first, then every Ready node at the target', async (t) => {
  const pod = { namespace: 'default', name: 'web-1', uid: 'uid-web-1', ip: '10.244.0.5' };
  const nodes = [makeNode('n1'), makeNode('n2'), makeNode('n3', { ready: false })];
  const listed = [
    makeEndpoints('web', [{ ready: [{ ip: '10.244.0.5', uid: 'uid-web-1', pod: 'web-1' }] }]),
    makeEndpoints('other', [{ ready: [{ ip: '10.244.0.6' }] }]),
  ];
  const cases: {
    name: string;
    endpoints: Endpoints[];
    acks: [string, number][];
    target?: number;
    want: object;
  }[] = [
    {
      name: 'still listed by uid',
      endpoints: listed,
      acks: [],
      want: { drained: false, step: 'endpoints', services: ['default/web'] },
    },
    {
      name: 'still listed by IP (another uid in the targetRef)',
      endpoints: [makeEndpoints('alias', [{ ready: [{ ip: '10.244.0.5', uid: 'someone' }] }])],
      acks: [],
      want: { drained: false, step: 'endpoints', services: ['default/alias'] },
    },
    {
      name: 'only not-ready: gone from the rules already',
      endpoints: [makeEndpoints('web', [{ notReady: [{ ip: '10.244.0.5', uid: 'uid-web-1' }] }])],
      acks: [
        ['n1', 10],
        ['n2', 10],
      ],
      want: { drained: true, target: 10 },
    },
    {
      name: 'left; a Ready node behind',
      endpoints: [],
      acks: [
        ['n1', 10],
        ['n2', 9],
      ],
      want: { drained: false, step: 'nodes', target: 10, nodes: ['n2'] },
    },
    {
      name: 'left; a Ready node never acknowledged',
      endpoints: [],
      acks: [['n1', 12]],
      want: { drained: false, step: 'nodes', target: 10, nodes: ['n2'] },
    },
    {
      name: 'every Ready node there (the NotReady one is not waited for)',
      endpoints: [],
      acks: [
        ['n1', 10],
        ['n2', 11],
      ],
      want: { drained: true, target: 10 },
    },
    {
      name: 'a fixed target does not move with later changes',
      endpoints: [],
      acks: [
        ['n1', 8],
        ['n2', 8],
      ],
      target: 7,
      want: { drained: true, target: 7 },
    },
  ];
  for (const c of cases) {
    const verdict = drainDecision({
      pod,
      endpoints: c.endpoints,
      nodes,
      acks: new Map(c.acks),
      endpointsRevision: 10,
      target: c.target,
    });
    t.match(verdict, c.want, c.name);
  }
});

/** A ClusterNetwork over informers of a memory store, as controller.ts wires it. */
async function harness(t: Test) {
  const store = new MemoryStore();
  const abort = new AbortController();
  const nodes = new Informer<Node>(store, nodeCodec, keys.nodes, log);
  const services = new Informer<Service>(store, serviceCodec, keys.services, log);
  const endpoints = new Informer<Endpoints>(store, endpointsCodec, keys.endpoints, log);
  const network = new ControllerClusterNetwork({
    store,
    nodes,
    services,
    endpoints,
    config,
    log,
    coalesceMs: 10,
  });
  network.start();
  const runs = [nodes.run(abort.signal), services.run(abort.signal), endpoints.run(abort.signal)];
  t.teardown(async () => {
    network.stop();
    abort.abort();
    await Promise.all(runs);
  });
  await Promise.all([nodes.waitSynced(), services.waitSynced(), endpoints.waitSynced()]);
  return { store, network, nodes, endpoints, abort };
}

/** Resolves with the next value pushed into list beyond count. */
function nth<T>(list: T[], count: number, what: string, timeoutMs = 3_000): Promise<T> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (list.length >= count) resolve(list[count - 1] as T);
      else if (Date.now() - started > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

t.test('follow sends the state at once, then a new one per (coalesced) change', async (t) => {
  const { store, network } = await harness(t);
  await store.create(
    nodeCodec,
    keys.node('n1'),
    makeNode('n1', { podCIDR: '10.244.0.0/24', ip: '192.168.1.1' }),
  );
  await store.create(
    nodeCodec,
    keys.node('n2'),
    makeNode('n2', { podCIDR: '10.244.1.0/24', ip: '192.168.1.2' }),
  );
  await new Promise((r) => setTimeout(r, 50));
  const sent: NetworkState[] = [];
  const stream = new AbortController();
  const following = network.follow('n1', async (s) => void sent.push(s), stream.signal);
  const first = await nth(sent, 1, 'the first state');
  t.same(
    first.nodes.map((n) => n.podCIDR),
    ['10.244.0.0/24', '10.244.1.0/24'],
    "the first state has the peers' CIDRs",
  );
  // A burst of changes (two keys, two watch events): one state, not two.
  const { revision } = await store.commit([
    putOp(serviceCodec, keys.service('default', 'web'), makeService('web'), 0),
    putOp(
      endpointsCodec,
      keys.endpointsOf('default', 'web'),
      makeEndpoints('web', [{ ready: [{ ip: '10.244.1.5', node: 'n2' }] }]),
      0,
    ),
  ]);
  const second = await nth(sent, 2, 'the state after the service');
  await new Promise((r) => setTimeout(r, 60));
  t.equal(sent.length, 2, 'the burst was coalesced into one state');
  t.same(
    second.services[0]?.ports[0]?.endpoints.map((e) => e.ip),
    ['10.244.1.5'],
  );
  t.equal(second.endpointsRevision, revision, 'endpointsRevision is the endpoints write');

  // A heartbeat-like rewrite of a node changes nothing a state holds: nothing is sent.
  const n2 = await store.get(nodeCodec, keys.node('n2'));
  if (!n2) throw new Error('n2 is gone');
  await store.update(
    nodeCodec,
    keys.node('n2'),
    { ...n2.value, status: n2.value.status && { ...n2.value.status, images: [] } },
    n2.modRevision,
  );
  await new Promise((r) => setTimeout(r, 60));
  t.equal(sent.length, 2, 'an unchanged state is not sent again');

  // Labelled web-facing: only this node's state changes.
  const n1 = await store.get(nodeCodec, keys.node('n1'));
  if (!n1) throw new Error('n1 is gone');
  const labelled = n1.value.metadata && {
    ...n1.value,
    metadata: { ...n1.value.metadata, labels: { 'flotilla.io/web-facing': 'true' } },
  };
  if (labelled) await store.update(nodeCodec, keys.node('n1'), labelled, n1.modRevision);
  const third = await nth(sent, 3, 'the state after the label');
  t.equal(third.webFacing, true, 'the node learns it is web-facing');
  stream.abort();
  await following;
});

t.test(
  'awaitEndpointsDrained resolves on the acknowledgement, or times out naming what is pending',
  async (t) => {
    const { store, network } = await harness(t);
    for (const n of ['n1', 'n2'])
      await store.create(nodeCodec, keys.node(n), makeNode(n, { podCIDR: '10.244.0.0/24' }));
    const pod = Pod.fromJSON({
      metadata: { namespace: 'default', name: 'web-1', uid: 'uid-web-1' },
      spec: { nodeName: 'n1' },
      status: { podIP: '10.244.0.5' },
    });
    await store.create(podCodec, keys.pod('default', 'web-1'), pod);
    const ep = await store.create(
      endpointsCodec,
      keys.endpointsOf('default', 'web'),
      makeEndpoints('web', [{ ready: [{ ip: '10.244.0.5', uid: 'uid-web-1', pod: 'web-1' }] }]),
    );
    await new Promise((r) => setTimeout(r, 30));
    const request = {
      nodeName: 'n1',
      namespace: 'default',
      podName: 'web-1',
      podUid: 'uid-web-1',
      timeoutMs: 5_000,
    };
    const ack = (node: string, revision: number): void =>
      network.handleApplied(
        subjects.networkApplied(node),
        NetworkApplied.encode({ nodeName: node, endpointsRevision: revision, appliedAt: '' }).finish(),
      );

    await t.rejects(
      network.awaitEndpointsDrained({ ...request, nodeName: 'n2' }, new AbortController().signal),
      { code: 'FailedPrecondition', message: /bound to node "n1", not to "n2"/ },
      'only the pod’s own node may ask',
    );
    await t.rejects(
      network.awaitEndpointsDrained({ ...request, timeoutMs: -1 }, new AbortController().signal),
      { code: 'InvalidArgument' },
    );

    const timedOut = await network.awaitEndpointsDrained(
      { ...request, timeoutMs: 50 },
      new AbortController().signal,
    );
    t.same(
      timedOut,
      { drained: false, endpointsRevision: 0, pendingNodes: [], pendingServices: ['default/web'] },
      'still listed: the service is pending',
    );

    let answered = false;
    const waiting = network.awaitEndpointsDrained(request, new AbortController().signal).then((r) => {
      answered = true;
      return r;
    });
    const removed = await store.update(
      endpointsCodec,
      keys.endpointsOf('default', 'web'),
      makeEndpoints('web', []),
      ep.entry.modRevision,
    );
    await new Promise((r) => setTimeout(r, 30));
    t.notOk(answered, 'out of the endpoints, but no node has acknowledged yet');
    ack('n1', removed.modRevision);
    ack('n2', removed.modRevision - 1);
    // A spoofed acknowledgement (n1's subject naming n2) counts for nothing.
    network.handleApplied(
      subjects.networkApplied('n1'),
      NetworkApplied.encode({
        nodeName: 'n2',
        endpointsRevision: removed.modRevision,
        appliedAt: '',
      }).finish(),
    );
    await new Promise((r) => setTimeout(r, 30));
    t.notOk(answered, 'n2 is still behind');
    ack('n2', removed.modRevision);
    const result = await waiting;
    t.same(
      result,
      { drained: true, endpointsRevision: removed.modRevision, pendingNodes: [], pendingServices: [] },
      'drained once every Ready node acknowledged the removal',
    );

    const stuck = await network.awaitEndpointsDrained(
      { ...request, timeoutMs: 1 },
      new AbortController().signal,
    );
    t.equal(stuck.drained, true, 'asked again: already drained');
    await store.create(nodeCodec, keys.node('n3'), makeNode('n3', { podCIDR: '10.244.2.0/24' }));
    await new Promise((r) => setTimeout(r, 30));
    const pending = await network.awaitEndpointsDrained(
      { ...request, timeoutMs: 50 },
      new AbortController().signal,
    );
    t.same(
      pending,
      { drained: false, endpointsRevision: removed.modRevision, pendingNodes: ['n3'], pendingServices: [] },
      'a Ready node that never acknowledges is pending when the time runs out',
    );
  },
);

t.test('a state waits longer the more it costs to send: followers × nodes', async (t) => {
  t.equal(coalesceDelayMs(3, 3), 15, 'a small cluster: the minimum');
  t.equal(coalesceDelayMs(50, 50), 25, '50 nodes following 50');
  t.equal(coalesceDelayMs(200, 200), 400, '200 nodes following 200');
  t.equal(coalesceDelayMs(1000, 1000), 5000, '1,000 × 1,000: 5 s');
  t.equal(coalesceDelayMs(5000, 5000), 5000, 'never longer');
  t.equal(coalesceDelayMs(0, 1000, 10), 10, 'nobody follows: the minimum asked for');
});

t.test('a delta costs its changed entries, and every state one message more', async (t) => {
  t.equal(followersDelayMs(0, 0, 1000, 1), 15, 'nobody follows: the minimum');
  t.equal(
    followersDelayMs(1000, 0, 1000, 1),
    5000,
    '1,000 complete followers of 1,000 nodes: 5 s, as before',
  );
  t.equal(followersDelayMs(0, 1000, 1000, 1), 310, '1,000 delta followers, one node changed');
  t.equal(followersDelayMs(0, 1000, 1000, 1000), 5000, 'every node changed costs a delta as much as a state');
  t.equal(followersDelayMs(0, 3, 3, 1, 10), 10, 'a small cluster: the minimum asked for');
});

t.test(
  'diffSharedNetwork finds the entries a change touched; a delta applied gives the complete state',
  async (t) => {
    const nodesA = [
      makeNode('n1', { podCIDR: '10.244.0.0/24', ip: '192.168.1.1' }),
      makeNode('n2', { podCIDR: '10.244.1.0/24', ip: '192.168.1.2' }),
      makeNode('n3', { podCIDR: '10.244.2.0/24', ip: '192.168.1.3' }),
    ];
    const web = makeService('web');
    const api = makeService('api', { clusterIP: '10.96.0.11' });
    const eps = makeEndpoints('web', [{ ready: [{ ip: '10.244.1.5', node: 'n2' }] }]);
    const before = buildSharedNetwork({
      nodes: nodesA,
      services: [web, api],
      endpoints: [eps],
      endpointsRevision: 5,
    });
    const nodesB = [
      makeNode('n1', { podCIDR: '10.244.0.0/24', ip: '192.168.1.1' }),
      makeNode('n2', { podCIDR: '10.244.1.0/24', ip: '192.168.1.2', ready: false }),
      makeNode('n4', { podCIDR: '10.244.3.0/24', ip: '192.168.1.4' }),
    ];
    const eps2 = makeEndpoints('web', [
      {
        ready: [
          { ip: '10.244.1.5', node: 'n2' },
          { ip: '10.244.3.7', node: 'n4' },
        ],
      },
    ]);
    const after = buildSharedNetwork({
      nodes: nodesB,
      services: [web],
      endpoints: [eps2],
      endpointsRevision: 9,
    });
    const change = diffSharedNetwork(before, after);
    t.same([...change.nodes.keys()].sort(), ['n2', 'n3', 'n4'], 'n1 is unchanged');
    t.equal(change.nodes.get('n3'), undefined, 'n3 is gone');
    t.equal(change.nodes.get('n2')?.ready, false);
    t.same([...change.services.keys()].sort(), ['default/api', 'default/web']);
    t.equal(change.services.get('default/api'), undefined, 'api is gone');
    t.same(diffSharedNetwork(after, after).nodes.size, 0, 'the same part: nothing');
    t.same(diffSharedNetwork(before, { ...before, endpointsRevision: 6 }).services.size, 0);

    const node = nodesB[0];
    const delta = networkDeltaFor(after, change, node, config);
    t.equal(delta.delta, true);
    t.same(delta.removedNodes, ['n3']);
    t.same(delta.removedServices, ['default/api']);
    t.equal(delta.nodes.length, 2);
    t.equal(delta.endpointsRevision, 9, 'the scalar fields are complete');
    const base = buildNetworkState(
      { nodes: nodesA, services: [web, api], endpoints: [eps], endpointsRevision: 5 },
      config,
      'n1',
    );
    const applied = applyNetworkDelta(base, delta);
    const full = buildNetworkState(
      { nodes: nodesB, services: [web], endpoints: [eps2], endpointsRevision: 9 },
      config,
      'n1',
    );
    const byName = <T extends { name: string }>(list: T[]): T[] =>
      [...list].sort((a, b) => (a.name < b.name ? -1 : 1));
    t.same(
      { ...applied, nodes: byName(applied.nodes) },
      { ...full, nodes: byName(full.nodes) },
      'delta on base = complete state',
    );

    // Two changes in a row merge into one (the later wins).
    const third = buildSharedNetwork({
      nodes: nodesA,
      services: [web],
      endpoints: [eps2],
      endpointsRevision: 10,
    });
    const merged = mergeNetworkChanges([change, diffSharedNetwork(after, third)]);
    const applied2 = applyNetworkDelta(base, networkDeltaFor(third, merged, node, config));
    const full2 = buildNetworkState(
      { nodes: nodesA, services: [web], endpoints: [eps2], endpointsRevision: 10 },
      config,
      'n1',
    );
    t.same(
      { ...applied2, nodes: byName(applied2.nodes) },
      { ...full2, nodes: byName(full2.nodes) },
      'merged deltas',
    );
  },
);

t.test('a follower that accepts deltas gets a complete state, then only what changed', async (t) => {
  const { store, network } = await harness(t);
  for (let i = 1; i <= 3; i++)
    await store.create(
      nodeCodec,
      keys.node(`n${i}`),
      makeNode(`n${i}`, { podCIDR: `10.244.${i}.0/24`, ip: `192.168.1.${i}` }),
    );
  await new Promise((r) => setTimeout(r, 50));
  const deltas: NetworkState[] = [];
  const fulls: NetworkState[] = [];
  const stream = new AbortController();
  const following = [
    network.follow('n1', async (s) => void deltas.push(s), stream.signal, { deltas: true }),
    network.follow('n1', async (s) => void fulls.push(s), stream.signal),
  ];
  const first = await nth(deltas, 1, 'the first state');
  t.equal(first.delta, false, 'the first state of a stream is complete');
  t.equal(first.nodes.length, 3);
  await nth(fulls, 1, 'the complete follower');

  await store.create(
    nodeCodec,
    keys.node('n4'),
    makeNode('n4', { podCIDR: '10.244.4.0/24', ip: '192.168.1.4' }),
  );
  const second = await nth(deltas, 2, 'the delta after n4 joined');
  t.equal(second.delta, true);
  t.same(
    second.nodes.map((n) => n.name),
    ['n4'],
    'only the new node',
  );
  const complete = await nth(fulls, 2, 'the complete state after n4');
  t.equal(complete.delta, false, 'a follower without deltas gets complete states');
  t.equal(complete.nodes.length, 4);

  await store.delete(keys.node('n2'));
  const third = await nth(deltas, 3, 'the delta after n2 left');
  t.same(third.removedNodes, ['n2']);
  t.same(third.nodes, []);
  const fullThird = await nth(fulls, 3, 'the complete state after n2 left');
  const applied = applyNetworkDelta(applyNetworkDelta(first, second), third);
  t.same(
    applied.nodes.map((n) => n.name).sort(),
    fullThird.nodes.map((n) => n.name),
    'the deltas applied make the complete state',
  );
  t.ok(heldChanges >= 2);
  stream.abort();
  await Promise.all(following);
});
