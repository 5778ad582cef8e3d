// What a status report, an update, a deletion and a store change mean for a pod: the pure
// decisions of the status ingest, UpdatePod, DeletePod and WatchPods.
import t from 'tap';
import { Pod, PodEvent_Type, PodStatusReport } from '@flotilla/proto';
import {
  ReportSequences,
  decideStatusReport,
  markDeleted,
  mergePodUpdate,
  parseLabelSelector,
  podEventFor,
  reportProblem,
} from '@flotilla/controller';

const now = new Date('2026-01-01T00:00:00Z');

function pod(
  extra: { node?: string; annotations?: Record<string, string>; deleting?: boolean; phase?: string } = {},
): Pod {
  return Pod.fromJSON({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'web',
      namespace: 'default',
      uid: 'uid-1',
      resourceVersion: '7',
      generation: 1,
      creationTimestamp: '2025-12-31T00:00:00.000Z',
      labels: { app: 'web' },
      annotations: extra.annotations ?? {},
      ...(extra.deleting
        ? { deletionTimestamp: '2026-01-01T00:00:30.000Z', deletionGracePeriodSeconds: 30 }
        : {}),
    },
    spec: {
      nodeName: extra.node ?? 'n1',
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 10,
      containers: [{ name: 'web', image: 'busybox', imagePullPolicy: 'Always' }],
    },
    status: { phase: extra.phase ?? 'Pending' },
  });
}

function report(extra: Partial<PodStatusReport> = {}): PodStatusReport {
  return PodStatusReport.fromJSON({
    nodeName: 'n1',
    namespace: 'default',
    name: 'web',
    uid: 'uid-1',
    agentInstance: 'a1',
    sequence: 1,
    status: { phase: 'Running', podIP: '10.0.0.5' },
    ...extra,
  });
}

t.test('reports are checked before any pod is read', async (t) => {
  t.equal(reportProblem('n1', report()), undefined);
  t.match(
    reportProblem('n2', report()),
    /came on the subject of "n2"/,
    'a node reports only on its own subject',
  );
  t.equal(reportProblem('a_b', report({ nodeName: 'a.b' })), undefined, 'dots become _ in the subject');
  t.match(reportProblem('n1', report({ nodeName: '' })), /names no node/);
  t.match(reportProblem('n1', report({ uid: '' })), /uid/);
  t.match(
    reportProblem(
      'n1',
      PodStatusReport.fromJSON({ nodeName: 'n1', namespace: 'default', name: 'web', uid: 'u' }),
    ),
    /no status/,
  );
});

t.test("the status of the reporting node's own pod is written", async (t) => {
  const d = decideStatusReport(pod(), report(), now);
  t.equal(d.action, 'write');
  if (d.action !== 'write') return;
  t.equal(d.pod.status?.phase, 'Running');
  t.equal(d.pod.status?.podIP, '10.0.0.5');
  t.same(d.pod.spec, pod().spec, 'the spec is untouched');
  t.same(d.pod.metadata, pod().metadata, 'the metadata is untouched');
  t.same(
    decideStatusReport(d.pod, report(), now),
    { action: 'none' },
    'the same status again writes nothing',
  );
});

t.test("reports about other nodes' pods, other uids or absent pods are ignored", async (t) => {
  t.match(decideStatusReport(pod({ node: 'n2' }), report(), now), {
    action: 'ignore',
    reason: /bound to node "n2"/,
  });
  t.match(decideStatusReport(pod({ node: '' }), report(), now), { action: 'ignore', reason: /no node/ });
  t.match(decideStatusReport(pod(), report({ uid: 'uid-0' }), now), { action: 'ignore', reason: /uid/ });
  t.match(decideStatusReport(undefined, report(), now), { action: 'ignore' });
});

t.test('removed: the key goes only for a pod being deleted', async (t) => {
  t.same(decideStatusReport(pod({ deleting: true }), report({ removed: true }), now), { action: 'delete' });
  t.match(decideStatusReport(pod(), report({ removed: true }), now), {
    action: 'ignore',
    reason: /not being deleted/,
  });
  t.match(decideStatusReport(pod({ deleting: true }), report({ removed: true, uid: 'other' }), now), {
    action: 'ignore',
  });
});

t.test('auto-remove: a finished pod starts its deletion', async (t) => {
  const annotations = { 'flotilla.io/auto-remove': 'true' };
  const d = decideStatusReport(
    pod({ annotations }),
    report({ status: { phase: 'Succeeded' } as never }),
    now,
  );
  t.match(d, { action: 'write', autoRemoved: true });
  if (d.action !== 'write') return;
  t.equal(d.pod.status?.phase, 'Succeeded');
  t.equal(d.pod.metadata?.deletionGracePeriodSeconds, 10, "the pod's own grace");
  t.equal(d.pod.metadata?.deletionTimestamp, '2026-01-01T00:00:10.000Z');
  const running = decideStatusReport(pod({ annotations }), report(), now);
  t.match(running, { action: 'write', autoRemoved: false }, 'not while it runs');
  const stored = pod({ annotations, phase: 'Failed' });
  t.match(
    decideStatusReport(stored, report({ status: stored.status }), now),
    { action: 'write', autoRemoved: true },
    'a pod that already failed is removed on the next report',
  );
  t.same(
    decideStatusReport(
      pod({ annotations, deleting: true, phase: 'Failed' }),
      report({ status: { phase: 'Failed' } as never }),
      now,
    ),
    { action: 'none' },
    'once',
  );
});

t.test('stale sequences per agent instance are dropped', async (t) => {
  const s = new ReportSequences(2);
  t.ok(s.accept('n1', 'a', 1));
  t.ok(s.accept('n1', 'a', 2));
  t.notOk(s.accept('n1', 'a', 2), 'a repeat');
  t.notOk(s.accept('n1', 'a', 1), 'an older one');
  t.ok(s.accept('n2', 'a', 1), 'other nodes count apart');
  t.ok(s.accept('n1', 'b', 1), 'a restarted agent starts again at 1');
  t.notOk(s.accept('n1', 'a', 2), 'the previous instance stays known');
  t.ok(s.accept('n1', 'c', 1));
  t.ok(s.accept('n1', 'a', 1), 'beyond the kept instances the oldest is forgotten');
});

t.test('update: only labels, annotations and spec.stopped change', async (t) => {
  const stored = pod();
  const edited = Pod.fromJSON(Pod.toJSON(stored));
  if (!edited.metadata || !edited.spec) throw new Error('no metadata');
  edited.metadata.labels = { app: 'web', tier: 'front' };
  edited.metadata.annotations = { 'flotilla.io/restartedAt': '2026-01-01T00:00:00Z' };
  edited.spec.stopped = true;
  edited.status = { ...edited.status!, phase: 'Failed' };
  const { pod: merged, problems } = mergePodUpdate(stored, edited);
  t.same(problems, []);
  t.same(merged.metadata?.labels, { app: 'web', tier: 'front' });
  t.equal(merged.spec?.stopped, true);
  t.equal(merged.metadata?.generation, 2, 'a spec change bumps the generation');
  t.equal(merged.status?.phase, 'Pending', 'the status is not writable through an update');

  const image = Pod.fromJSON(Pod.toJSON(stored));
  image.spec!.containers[0]!.image = 'busybox:2';
  image.spec!.nodeName = 'n9';
  const bad = mergePodUpdate(stored, image);
  t.same(
    bad.problems.map((p) => p.field).sort(),
    ['spec.containers[0].image', 'spec.nodeName'],
    'each changed field is named',
  );
  t.match(
    bad.problems[0]?.message,
    /cannot change: only metadata.labels, metadata.annotations and spec.stopped may change/,
  );
  const uid = Pod.fromJSON(Pod.toJSON(stored));
  uid.metadata!.uid = 'x';
  t.equal(mergePodUpdate(stored, uid).problems[0]?.field, 'metadata.uid');
  const noSpec = Pod.fromJSON({ metadata: { name: 'web', labels: { a: 'b' } } });
  const meta = mergePodUpdate(stored, noSpec);
  t.same(meta.problems, [], 'a pod without spec changes only metadata');
  t.same(meta.pod.spec, stored.spec);
});

t.test('deletion marks: grace from the request, else the pod, else 30; only shorter later', async (t) => {
  const p = pod();
  const m = markDeleted(p, now, undefined);
  t.equal(m?.metadata?.deletionGracePeriodSeconds, 10);
  t.equal(m?.metadata?.deletionTimestamp, '2026-01-01T00:00:10.000Z');
  t.equal(markDeleted(p, now, 0)?.metadata?.deletionGracePeriodSeconds, 0);
  t.equal(markDeleted(m!, now, 20), undefined, 'a longer grace changes nothing');
  t.equal(markDeleted(m!, now, 2)?.metadata?.deletionGracePeriodSeconds, 2, 'a shorter one shortens it');
  const noGrace = Pod.fromJSON({ ...(Pod.toJSON(p) as object), spec: { containers: [] } });
  t.equal(markDeleted(noGrace, now, undefined)?.metadata?.deletionGracePeriodSeconds, 30);
});

t.test('watch events follow the filter', async (t) => {
  const filter = { namespace: 'default', name: '', selector: parseLabelSelector('app=web') };
  const a = pod();
  const other = Pod.fromJSON(Pod.toJSON(a));
  other.metadata!.labels = { app: 'db' };
  const key = 'pods/default/web';
  t.match(podEventFor(filter, { type: 'put', key, value: a, revision: 8 }), { type: PodEvent_Type.ADDED });
  t.match(podEventFor(filter, { type: 'put', key, value: a, previous: a, revision: 9 }), {
    type: PodEvent_Type.MODIFIED,
  });
  const leaving = podEventFor(filter, { type: 'put', key, value: other, previous: a, revision: 10 });
  t.equal(leaving?.type, PodEvent_Type.DELETED, 'a pod that stops matching is DELETED');
  t.equal(leaving?.pod?.metadata?.resourceVersion, '10');
  t.equal(podEventFor(filter, { type: 'put', key, value: other, revision: 11 }), undefined);
  t.match(podEventFor(filter, { type: 'delete', key, previous: a, revision: 12 }), {
    type: PodEvent_Type.DELETED,
    pod: { metadata: { name: 'web', resourceVersion: '12' } },
  });
  t.match(
    podEventFor(filter, { type: 'delete', key, revision: 13 }),
    { type: PodEvent_Type.DELETED },
    'even without the previous value',
  );
  const byName = { namespace: '', name: 'db', selector: [] };
  t.equal(podEventFor(byName, { type: 'put', key, value: a, revision: 14 }), undefined);
});
