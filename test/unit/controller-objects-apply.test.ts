// Apply planning, pure: created / configured / unchanged, generation, what the cluster
// owns kept across applies, immutable fields, namespaces, and service IP and node-port
// allocation as guarded allocation keys in the same transaction.
import t, { type Test } from 'tap';
import { Deployment, Namespace, Pod, Service, type Object as ProtoObject } from '@flotilla/proto';
import {
  allocationCodec,
  canonicalJson,
  deploymentCodec,
  parseCidr,
  pickFree,
  planApply,
  prepareApply,
  serviceCodec,
  type AllocationOwner,
  type ApplySnapshot,
  type Entry,
  type KindedObject,
  type PlanContext,
} from '@flotilla/controller';

const cidr = parseCidr('10.96.0.0/28');
let uids = 0;
const ctx = (random = 0): PlanContext => ({
  now: new Date('2026-01-01T00:00:00Z'),
  newUid: () => `uid-${++uids}`,
  cidr,
  random: () => random,
});

const defaultNs = Namespace.fromJSON({ metadata: { name: 'default' }, status: { phase: 'Active' } });

function snapshot(parts: Partial<ApplySnapshot> = {}): ApplySnapshot {
  return {
    stored: new Map(),
    namespaces: new Map([['default', defaultNs]]),
    nodes: new Set(),
    serviceIps: new Map(),
    nodePorts: new Map(),
    ...parts,
  };
}

const deploymentManifest = (extra: Record<string, unknown> = {}, replicas?: number): ProtoObject => ({
  deployment: Deployment.fromJSON({
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: {
      ...(replicas === undefined ? {} : { replicas }),
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'busybox:1.36' }] },
      },
      ...extra,
    },
  }),
});

/** Plans objects against snap; fails the test on problems of preparation. */
function plan(t: Test, objects: ProtoObject[], snap: ApplySnapshot, c = ctx()) {
  const prepared = prepareApply(objects, cidr);
  t.same(prepared.problems, [], 'the manifests are valid');
  return planApply(prepared.objects, snap, c);
}

/** A stored entry of what a plan wrote, as the store would hand it back. */
function storedFrom(object: KindedObject, rev: number): Entry<KindedObject['value']> {
  const value = {
    ...object.value,
    metadata: object.value.metadata && { ...object.value.metadata, resourceVersion: String(rev) },
  };
  return { key: '', value, modRevision: rev, createRevision: rev };
}

t.test('a new Deployment is created with generation 1 and a guard that it does not exist', async (t) => {
  const p = plan(t, [deploymentManifest()], snapshot());
  t.same(p.problems, []);
  t.equal(p.results[0]?.action, 'created');
  const d = p.results[0]?.object.value as Deployment;
  t.equal(d.metadata?.generation, 1);
  t.match(d.metadata?.uid, /^uid-/);
  t.equal(d.metadata?.creationTimestamp, '2026-01-01T00:00:00.000Z');
  t.equal(p.ops.length, 1);
  t.match(p.ops[0], { type: 'put', key: 'deployments/default/web', expect: 0 });
});

t.test('applying the same manifest again is unchanged and writes nothing', async (t) => {
  const first = plan(t, [deploymentManifest()], snapshot());
  const stored = new Map([['deployments/default/web', storedFrom(first.results[0]!.object, 7)]]);
  const again = plan(t, [deploymentManifest()], snapshot({ stored }));
  t.equal(again.results[0]?.action, 'unchanged');
  t.same(again.ops, []);
});

t.test('a spec change configures it: generation + 1, uid, creation time and status kept', async (t) => {
  const first = plan(t, [deploymentManifest()], snapshot());
  const was = storedFrom(first.results[0]!.object, 7);
  (was.value as Deployment).status = {
    ...(was.value as Deployment).status!,
    observedGeneration: 1,
    replicas: 1,
  };
  (was.value as Deployment).metadata!.annotations['deployment.kubernetes.io/revision'] = '1';
  const stored = new Map([['deployments/default/web', was]]);
  const next = plan(t, [deploymentManifest({ minReadySeconds: 5 })], snapshot({ stored }));
  t.equal(next.results[0]?.action, 'configured');
  const d = next.results[0]?.object.value as Deployment;
  t.equal(d.metadata?.generation, 2);
  t.equal(d.metadata?.uid, was.value.metadata?.uid);
  t.equal(d.metadata?.creationTimestamp, was.value.metadata?.creationTimestamp);
  t.equal(d.status?.observedGeneration, 1, 'status kept');
  t.equal(
    d.metadata?.annotations['deployment.kubernetes.io/revision'],
    '1',
    "the controller's annotation kept",
  );
  t.match(next.ops[0], { type: 'put', key: 'deployments/default/web', expect: 7 });

  const labelsOnly = plan(
    t,
    [
      {
        deployment: {
          ...deploymentManifest().deployment!,
          metadata: { ...deploymentManifest().deployment!.metadata!, labels: { app: 'web', team: 'a' } },
        },
      },
    ],
    snapshot({ stored }),
  );
  t.equal(labelsOnly.results[0]?.action, 'configured', 'labels changed');
  t.equal(
    (labelsOnly.results[0]?.object.value as Deployment).metadata?.generation,
    1,
    'no spec change, same generation',
  );
});

t.test('replicas left out of the manifest keep what deploy scale set', async (t) => {
  const first = plan(t, [deploymentManifest({}, 3)], snapshot());
  const stored = new Map([['deployments/default/web', storedFrom(first.results[0]!.object, 7)]]);
  const unset = plan(t, [deploymentManifest()], snapshot({ stored }));
  t.equal(unset.results[0]?.action, 'unchanged');
  t.equal((unset.results[0]?.object.value as Deployment).spec?.replicas, 3);
  const set = plan(t, [deploymentManifest({}, 5)], snapshot({ stored }));
  t.equal((set.results[0]?.object.value as Deployment).spec?.replicas, 5, 'replicas in the manifest win');
});

t.test('a Deployment selector cannot change', async (t) => {
  const first = plan(t, [deploymentManifest()], snapshot());
  const stored = new Map([['deployments/default/web', storedFrom(first.results[0]!.object, 7)]]);
  const changed = deploymentManifest({ selector: { matchLabels: { app: 'web', v: '2' } } });
  changed.deployment!.spec!.template!.metadata!.labels = { app: 'web', v: '2' };
  const p = plan(t, [changed], snapshot({ stored }));
  t.match(
    p.problems.join('\n'),
    /Deployment default\/web \(objects\[0\]\): spec\.selector: .* cannot change .*immutable/,
  );
});

t.test('objects need their namespace: existing, or created in the same apply', async (t) => {
  const inTeam = deploymentManifest();
  inTeam.deployment!.metadata!.namespace = 'team-a';
  const missing = plan(t, [inTeam], snapshot());
  t.match(missing.problems.join('\n'), /namespace "team-a" does not exist/);
  const together = plan(
    t,
    [{ namespace: Namespace.fromJSON({ metadata: { name: 'team-a' } }) }, inTeam],
    snapshot(),
  );
  t.same(together.problems, []);
  t.equal((together.results[0]?.object.value as Namespace).status?.phase, 'Active');
  const terminating = plan(
    t,
    [inTeam],
    snapshot({
      namespaces: new Map([
        ['team-a', Namespace.fromJSON({ metadata: { name: 'team-a' }, status: { phase: 'Terminating' } })],
      ]),
    }),
  );
  t.match(terminating.problems.join('\n'), /being deleted/);
});

const serviceManifest = (spec: Record<string, unknown> = {}, name = 'web'): ProtoObject => ({
  service: Service.fromJSON({
    metadata: { name },
    spec: { selector: { app: 'web' }, ports: [{ port: 80 }], ...spec },
  }),
});

t.test(
  'a new Service gets a free cluster IP, claimed by an allocation key in the same transaction',
  async (t) => {
    const owner: AllocationOwner = { namespace: 'default', name: 'other', uid: 'u' };
    const serviceIps = new Map<string, Entry<AllocationOwner>>([
      [
        '10.96.0.1',
        { key: 'allocations/serviceips/10.96.0.1', value: owner, modRevision: 3, createRevision: 3 },
      ],
    ]);
    const p = plan(t, [serviceManifest()], snapshot({ serviceIps }));
    t.same(p.problems, []);
    const svc = p.results[0]?.object.value as Service;
    t.equal(svc.spec?.clusterIP, '10.96.0.2', 'the first free address from the start');
    t.match(p.ops, [
      { type: 'put', key: 'allocations/serviceips/10.96.0.2', expect: 0 },
      { type: 'put', key: 'services/default/web', expect: 0 },
    ]);
    const claim = p.ops[0];
    t.same(claim?.type === 'put' && allocationCodec.decode(claim.text, 1), {
      namespace: 'default',
      name: 'web',
      uid: svc.metadata?.uid,
    });
  },
);

t.test('two services of one apply never get the same IP or node port', async (t) => {
  const p = plan(
    t,
    [serviceManifest({ type: 'NodePort' }, 'a'), serviceManifest({ type: 'NodePort' }, 'b')],
    snapshot(),
  );
  t.same(p.problems, []);
  const [a, b] = p.results.map((r) => r.object.value as Service);
  t.not(a?.spec?.clusterIP, b?.spec?.clusterIP);
  t.not(a?.spec?.ports[0]?.nodePort, b?.spec?.ports[0]?.nodePort);
  t.ok((a?.spec?.ports[0]?.nodePort ?? 0) >= 30000);
});

t.test('a Service keeps its assigned IP and node ports; a clusterIP cannot change', async (t) => {
  const first = plan(t, [serviceManifest({ type: 'NodePort' })], snapshot());
  const svc = first.results[0]!.object.value as Service;
  const ip = svc.spec!.clusterIP;
  const port = svc.spec!.ports[0]!.nodePort;
  const me: AllocationOwner = { namespace: 'default', name: 'web', uid: svc.metadata!.uid };
  const snap = snapshot({
    stored: new Map([['services/default/web', storedFrom(first.results[0]!.object, 9)]]),
    serviceIps: new Map([
      [ip, { key: `allocations/serviceips/${ip}`, value: me, modRevision: 9, createRevision: 9 }],
    ]),
    nodePorts: new Map([
      [port, { key: `allocations/nodeports/${port}`, value: me, modRevision: 9, createRevision: 9 }],
    ]),
  });
  const again = plan(t, [serviceManifest({ type: 'NodePort' })], snap);
  t.equal(again.results[0]?.action, 'unchanged');
  t.same(again.ops, []);
  const moved = plan(t, [serviceManifest({ type: 'NodePort', clusterIP: '10.96.0.9' })], snap);
  t.match(moved.problems.join('\n'), /spec\.clusterIP: "10\.96\.0\.9" cannot change/);
  const toClusterIP = plan(t, [serviceManifest()], snap);
  t.equal(toClusterIP.results[0]?.action, 'configured');
  t.match(
    toClusterIP.ops,
    [
      { type: 'put', key: 'services/default/web', expect: 9 },
      { type: 'delete', key: `allocations/nodeports/${port}`, expect: 9 },
    ].reverse(),
  );
  t.equal((toClusterIP.results[0]?.object.value as Service).metadata?.generation, 2);
});

t.test('a clusterIP or nodePort another service holds is refused naming the holder', async (t) => {
  const other: AllocationOwner = { namespace: 'default', name: 'db', uid: 'u' };
  const p = plan(
    t,
    [serviceManifest({ type: 'NodePort', clusterIP: '10.96.0.5', ports: [{ port: 80, nodePort: 30080 }] })],
    snapshot({
      serviceIps: new Map([['10.96.0.5', { key: '', value: other, modRevision: 2, createRevision: 2 }]]),
      nodePorts: new Map([[30080, { key: '', value: other, modRevision: 2, createRevision: 2 }]]),
    }),
  );
  const text = p.problems.join('\n');
  t.match(text, /spec\.clusterIP: "10\.96\.0\.5" is already allocated to Service default\/db/);
  t.match(text, /spec\.ports\[0\]\.nodePort: 30080 is already allocated to Service default\/db/);
});

t.test('a full service range is a problem, not a loop', async (t) => {
  const full = new Map<string, Entry<AllocationOwner>>();
  for (let i = 1; i <= 14; i++) {
    full.set(`10.96.0.${i}`, {
      key: '',
      value: { namespace: 'x', name: `s${i}`, uid: '' },
      modRevision: 1,
      createRevision: 1,
    });
  }
  const p = plan(t, [serviceManifest()], snapshot({ serviceIps: full }));
  t.match(p.problems.join('\n'), /no free address left/);
  t.equal(
    pickFree(
      1,
      3,
      (n) => n !== 2,
      () => 0.9,
    ),
    2,
  );
  t.equal(
    pickFree(
      1,
      3,
      () => true,
      () => 0,
    ),
    undefined,
  );
});

t.test(
  'pods through Apply follow CreatePod: defaults, identity, and on update only labels, annotations and stopped',
  async (t) => {
    const manifest = (labels: Record<string, string>, image = 'busybox:1.36'): ProtoObject => ({
      pod: Pod.fromJSON({ metadata: { name: 'p', labels }, spec: { containers: [{ name: 'c', image }] } }),
    });
    const created = plan(t, [manifest({ a: '1' })], snapshot());
    const pod = created.results[0]?.object.value as Pod;
    t.equal(created.results[0]?.action, 'created');
    t.equal(pod.spec?.restartPolicy, 'Always');
    t.equal(pod.status?.phase, 'Pending');
    t.equal(pod.spec?.nodeName, '', 'left for the scheduler');
    const bound = storedFrom(created.results[0]!.object, 4);
    (bound.value as Pod).spec!.nodeName = 'n1';
    const snap = snapshot({ stored: new Map([['pods/default/p', bound]]) });
    t.equal(
      plan(t, [manifest({ a: '1' })], snap).results[0]?.action,
      'unchanged',
      'the binding is not a change',
    );
    const relabel = plan(t, [manifest({ a: '2' })], snap);
    t.equal(relabel.results[0]?.action, 'configured');
    t.equal((relabel.results[0]?.object.value as Pod).spec?.nodeName, 'n1');
    const image = plan(t, [manifest({ a: '1' }, 'busybox:1.37')], snap);
    t.match(image.problems.join('\n'), /spec\.containers\[0\]\.image: .*cannot change/);

    const onNode: ProtoObject = {
      pod: Pod.fromJSON({
        metadata: { name: 'q' },
        spec: { nodeName: 'ghost', containers: [{ name: 'c', image: 'busybox:1.36' }] },
      }),
    };
    t.match(plan(t, [onNode], snapshot()).problems.join('\n'), /spec\.nodeName: "ghost" is not a node/);
  },
);

t.test('map order does not make a change', async (t) => {
  t.equal(canonicalJson({ a: 1, b: { c: 2, d: 3 } }), canonicalJson({ b: { d: 3, c: 2 }, a: 1 }));
  t.ok(deploymentCodec && serviceCodec, 'codecs exported');
});
