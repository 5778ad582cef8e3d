// applyNetworkDelta: the complete state a delta from the Network stream makes of the
// stream's previous state (pure).
import t from 'tap';
import type { NetworkNode, NetworkState, ServiceRoute } from '@flotilla/proto';
import { applyNetworkDelta } from '@flotilla/agent';
import { networkState } from '../lib/index.js';

const node = (name: string, ready = true): NetworkNode => ({
  name,
  internalIP: `192.168.1.${name.slice(1)}`,
  podCIDR: `10.244.${name.slice(1)}.0/24`,
  ready,
});
const service = (namespace: string, name: string, clusterIP: string): ServiceRoute => ({
  namespace,
  name,
  clusterIP,
  type: 'ClusterIP',
  ports: [],
});
const state = (o: Partial<NetworkState>): NetworkState => networkState({ endpointsRevision: 1, ...o });

t.test('a delta replaces, adds and removes entries by name; the scalars are its own', async (t) => {
  const base = state({
    nodes: [node('n1'), node('n2'), node('n3')],
    services: [service('a', 'web', '10.96.0.1'), service('b', 'web', '10.96.0.2')],
  });
  const next = applyNetworkDelta(
    base,
    state({
      delta: true,
      endpointsRevision: 7,
      webFacing: true,
      nodes: [node('n4'), node('n2', false)],
      removedNodes: ['n1'],
      services: [service('b', 'web', '10.96.0.9')],
      removedServices: ['a/web'],
    }),
  );
  t.same(
    next.nodes.map((n) => [n.name, n.ready]),
    [
      ['n2', false],
      ['n3', true],
      ['n4', true],
    ],
    'the previous order, new entries after it',
  );
  t.same(
    next.services.map((s) => `${s.namespace}/${s.name} ${s.clusterIP}`),
    ['b/web 10.96.0.9'],
    'services by namespace/name',
  );
  t.equal(next.endpointsRevision, 7);
  t.equal(next.webFacing, true);
  t.equal(next.delta, false, 'the result is complete');
  t.same(next.removedNodes, []);
  t.same(base.nodes.length, 3, 'the base is not changed');
});

t.test('a complete state replaces the previous one as it is', async (t) => {
  const full = state({ nodes: [node('n9')] });
  t.equal(applyNetworkDelta(state({ nodes: [node('n1')] }), full), full);
});
