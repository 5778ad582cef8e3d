// How the declarative commands print: get's tables for every kind (kubectl's columns),
// documents, describe (events; a pending pod's reason), diff's unified diff, rollout
// history, and the rollout progress decision.
import t from 'tap';
import {
  describeObject,
  historyText,
  objectDocument,
  objectListDocument,
  objectsTable,
  podStatus,
  resolveResource,
  revisionsOf,
  rolloutProgress,
  unifiedDiff,
  objectDiff,
  kindInfo,
  type KindInfo,
} from '@flotilla/deploy';
import { Deployment, Event, Object as ApiObject, Pod, ReplicaSet } from '@flotilla/proto';

/** An Object holding one kind, as the API returns it. */
const wrap = (object: ApiObject): ApiObject => object;
const now = new Date('2026-12-01T12:00:00Z');
const ago = (seconds: number): string => new Date(now.getTime() - seconds * 1000).toISOString();
const info = (kind: string): KindInfo => kindInfo(kind) as KindInfo;
const table = (kind: string, objects: ApiObject[], wide = false, withNamespace = false): string =>
  objectsTable(info(kind), objects, { now, wide, withNamespace });

const webDeployment = (
  status: Record<string, unknown> = {},
  spec: Record<string, unknown> = {},
  generation = 2,
) =>
  Deployment.fromJSON({
    metadata: {
      name: 'web',
      namespace: 'default',
      uid: 'd-1',
      generation,
      creationTimestamp: ago(300),
      annotations: { 'deployment.kubernetes.io/revision': '2' },
    },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'registry/web:2', ports: [{ containerPort: 8080 }] }] },
      },
      ...spec,
    },
    status: {
      observedGeneration: 2,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      ...status,
    },
  });

const pod = (name: string, json: Record<string, unknown>) =>
  Pod.fromJSON({
    metadata: { name, namespace: 'default', creationTimestamp: ago(90) },
    spec: { containers: [{ name: 'web', image: 'registry/web:2' }], nodeName: 'node-1' },
    ...json,
  });

t.test('resource names: plural, singular, short names, group, case', async (t) => {
  for (const [text, kind] of [
    ['po', 'Pod'],
    ['pods', 'Pod'],
    ['Pod', 'Pod'],
    ['deploy', 'Deployment'],
    ['deployments.apps', 'Deployment'],
    ['rs', 'ReplicaSet'],
    ['svc', 'Service'],
    ['ns', 'Namespace'],
    ['no', 'Node'],
    ['ev', 'Event'],
    ['events', 'Event'],
  ]) {
    const found = resolveResource(text ?? '');
    t.equal(found.ok ? found.info.kind : found.message, kind, String(text));
  }
  const bad = resolveResource('configmaps');
  t.notOk(bad.ok);
  t.match(
    bad.ok ? '' : bad.message,
    /^unknown resource type "configmaps"\. Valid types: pods \(po\), deployments \(deploy\)/,
  );
});

t.test(
  'get deployments: NAME READY UP-TO-DATE AVAILABLE AGE, wide adds CONTAINERS IMAGES SELECTOR',
  async (t) => {
    const rolling = wrap({
      deployment: webDeployment({ readyReplicas: 2, updatedReplicas: 1, availableReplicas: 2 }),
    });
    t.equal(
      table('Deployment', [rolling]),
      'NAME   READY   UP-TO-DATE   AVAILABLE   AGE\nweb    2/3     1            2           5m\n',
    );
    t.equal(
      table('Deployment', [rolling], true),
      'NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES           SELECTOR\n' +
        'web    2/3     1            2           5m    web          registry/web:2   app=web\n',
    );
    t.equal(
      table('Deployment', [rolling], false, true).split('\n')[0],
      'NAMESPACE   NAME   READY   UP-TO-DATE   AVAILABLE   AGE',
      '-A adds NAMESPACE first',
    );
  },
);

t.test('get pods: READY, kubectl STATUS words, RESTARTS; wide adds IP and NODE', async (t) => {
  const running = pod('web-a', {
    status: {
      phase: 'Running',
      podIP: '10.88.0.5',
      containerStatuses: [{ name: 'web', ready: true, restartCount: 2, state: { running: {} } }],
    },
  });
  const crashing = pod('web-b', {
    status: {
      phase: 'Running',
      containerStatuses: [
        { name: 'web', restartCount: 5, state: { waiting: { reason: 'CrashLoopBackOff' } } },
      ],
    },
  });
  const pending = Pod.fromJSON({
    metadata: { name: 'web-c', namespace: 'default', creationTimestamp: ago(10) },
    spec: { containers: [{ name: 'web', image: 'w' }] },
    status: {
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }],
    },
  });
  const objects = [running, crashing, pending].map((p) => wrap({ pod: p }));
  t.equal(
    table('Pod', objects, true),
    'NAME    READY   STATUS             RESTARTS   AGE   IP          NODE\n' +
      'web-a   1/1     Running            2          90s   10.88.0.5   node-1\n' +
      'web-b   0/1     CrashLoopBackOff   5          90s   <none>      node-1\n' +
      'web-c   0/1     Pending            0          10s   <none>      <none>\n',
  );
  t.equal(podStatus(pod('x', { metadata: { name: 'x', deletionTimestamp: ago(1) } })), 'Terminating');
  t.equal(
    podStatus(
      pod('x', {
        status: { phase: 'Failed', containerStatuses: [{ state: { terminated: { exitCode: 3 } } }] },
      }),
    ),
    'ExitCode:3',
  );
  t.equal(
    podStatus(
      pod('x', { status: { containerStatuses: [{ state: { terminated: { reason: 'Completed' } } }] } }),
    ),
    'Completed',
  );
});

t.test('get replicasets, services, namespaces, events', async (t) => {
  const rs = wrap({
    replicaSet: ReplicaSet.fromJSON({
      metadata: { name: 'web-5d8f', creationTimestamp: ago(60) },
      spec: { replicas: 3 },
      status: { replicas: 3, readyReplicas: 1 },
    }),
  });
  t.equal(
    table('ReplicaSet', [rs]),
    'NAME       DESIRED   CURRENT   READY   AGE\nweb-5d8f   3         3         1       60s\n',
  );
  const svc = ApiObject.fromJSON({
    service: {
      metadata: { name: 'web', creationTimestamp: ago(60) },
      spec: {
        type: 'NodePort',
        clusterIP: '10.96.0.10',
        selector: { app: 'web' },
        ports: [
          { port: 80, nodePort: 30080 },
          { port: 53, protocol: 'UDP' },
        ],
      },
    },
  });
  t.equal(
    table('Service', [svc], true),
    'NAME   TYPE       CLUSTER-IP   EXTERNAL-IP   PORT(S)               AGE   SELECTOR\n' +
      'web    NodePort   10.96.0.10   <none>        80:30080/TCP,53/UDP   60s   app=web\n',
  );
  const ns = ApiObject.fromJSON({ namespace: { metadata: { name: 'prod', creationTimestamp: ago(7200) } } });
  t.equal(table('Namespace', [ns]), 'NAME   STATUS   AGE\nprod   Active   120m\n');
  const event = (name: string, seconds: number, reason: string) =>
    wrap({
      event: Event.fromJSON({
        metadata: { name },
        involvedObject: { kind: 'Pod', name: 'web-a' },
        reason,
        message: `${reason} happened`,
        type: 'Normal',
        lastTimestamp: ago(seconds),
      }),
    });
  t.equal(
    table('Event', [event('e2', 5, 'Started'), event('e1', 30, 'Scheduled')]),
    'LAST SEEN   TYPE     REASON      OBJECT      MESSAGE\n' +
      '30s         Normal   Scheduled   pod/web-a   Scheduled happened\n' +
      '5s          Normal   Started     pod/web-a   Started happened\n',
    'events oldest first',
  );
});

t.test('documents: apiVersion and kind first, filled in; lists are kind List', async (t) => {
  const object = wrap({ deployment: webDeployment() });
  const doc = objectDocument(object);
  t.same(Object.keys(doc).slice(0, 3), ['apiVersion', 'kind', 'metadata']);
  t.equal(doc.apiVersion, 'apps/v1');
  t.equal(doc.kind, 'Deployment');
  const list = objectListDocument([object]);
  t.equal(list.kind, 'List');
  t.equal((list.items as unknown[]).length, 1);
});

t.test('rollout progress: waiting with kubectl lines, succeeded, failed with the reason', async (t) => {
  const cases: Array<[string, Deployment, string, string]> = [
    [
      'not observed yet',
      webDeployment({ observedGeneration: 1 }),
      'waiting',
      'Waiting for deployment spec update to be observed...',
    ],
    [
      'updating',
      webDeployment({ updatedReplicas: 1 }),
      'waiting',
      'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
    ],
    [
      'old pods left',
      webDeployment({ replicas: 4 }),
      'waiting',
      'Waiting for deployment "web" rollout to finish: 1 old replica is pending termination...',
    ],
    [
      'old pods left (2)',
      webDeployment({ replicas: 5 }),
      'waiting',
      'Waiting for deployment "web" rollout to finish: 2 old replicas are pending termination...',
    ],
    [
      'not available yet',
      webDeployment({ availableReplicas: 1 }),
      'waiting',
      'Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...',
    ],
    ['done', webDeployment(), 'succeeded', 'deployment "web" successfully rolled out'],
    [
      'deadline exceeded',
      webDeployment({
        updatedReplicas: 1,
        conditions: [
          {
            type: 'Progressing',
            status: 'False',
            reason: 'ProgressDeadlineExceeded',
            message: 'ReplicaSet "web-5d8f" has timed out progressing.',
          },
        ],
      }),
      'failed',
      'deployment "web" exceeded its progress deadline (ProgressDeadlineExceeded): ReplicaSet "web-5d8f" has timed out progressing.',
    ],
    [
      'paused',
      webDeployment({ updatedReplicas: 1 }, { paused: true }),
      'failed',
      'deployment "web" is paused; resume it with "deploy rollout resume deployment/web"',
    ],
    [
      'scaled to zero',
      webDeployment(
        { replicas: 0, updatedReplicas: 0, availableReplicas: 0, readyReplicas: 0 },
        { replicas: 0 },
      ),
      'succeeded',
      'deployment "web" successfully rolled out',
    ],
  ];
  for (const [name, deployment, state, message] of cases) {
    t.same(rolloutProgress(deployment), { state, message }, name);
  }
});

t.test(
  'rollout progress: the generation waited for failed, though a rollback moved the spec on',
  async (t) => {
    // The controller's automatic rollback writes the failure with the restored template (3).
    const rolledBack = webDeployment(
      {
        observedGeneration: 2,
        updatedReplicas: 1,
        conditions: [
          { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: '' },
        ],
      },
      {},
      3,
    );
    t.equal(rolloutProgress(rolledBack, 2).state, 'failed', 'waiting for 2: its rollout failed');
    t.equal(rolloutProgress(rolledBack).state, 'waiting', 'no generation given: 3 is not observed yet');
    t.equal(
      rolloutProgress(rolledBack, 3).state,
      'waiting',
      'waiting for 3 (a fix applied after): not its failure',
    );
  },
);

t.test('describe pod: containers, conditions, why it is pending, events', async (t) => {
  const pending = wrap({
    pod: Pod.fromJSON({
      metadata: { name: 'web-c', namespace: 'default', labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: 'registry/web:2', ports: [{ containerPort: 8080 }] }] },
      status: {
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/3 nodes are available: 2 insufficient memory, 1 cordoned',
          },
        ],
      },
    }),
  });
  const events = [
    Event.fromJSON({
      type: 'Warning',
      reason: 'FailedScheduling',
      message: '0/3 nodes are available: 2 insufficient memory, 1 cordoned',
      count: 4,
      firstTimestamp: ago(120),
      lastTimestamp: ago(10),
      source: { component: 'scheduler' },
    }),
  ];
  const text = describeObject(pending, { events, now });
  t.match(text, /^Name: +web-c\nNamespace: +default\nLabels: +app=web\nAnnotations: +<none>\n/);
  t.match(text, /\nStatus: +Pending\n/);
  t.match(text, /\n {2}web:\n {4}Image: +registry\/web:2\n {4}Port: +8080\/TCP\n/);
  t.match(
    text,
    /\nConditions:\n {2}Type +Status +Reason +Message\n {2}-+ +-+ +-+ +-+\n {2}PodScheduled +False +Unschedulable +0\/3 nodes are available: 2 insufficient memory, 1 cordoned\n/,
  );
  t.match(text, /\nNot Scheduled: +0\/3 nodes are available: 2 insufficient memory, 1 cordoned\n/);
  t.match(
    text,
    /\nEvents:\n {2}Type +Reason +Age +From +Message\n[^\n]+\n {2}Warning +FailedScheduling +10s \(x4 over 2m\) +scheduler +0\/3 nodes/,
  );
  const quiet = describeObject(wrap({ pod: pod('p', {}) }), { events: [], now });
  t.match(quiet, /\nEvents: +<none>\n$/);
});

const replicaSet = (name: string, revision: number, replicas: number, changeCause?: string) =>
  ReplicaSet.fromJSON({
    metadata: {
      name,
      annotations: {
        'deployment.kubernetes.io/revision': String(revision),
        ...(changeCause ? { 'kubernetes.io/change-cause': changeCause } : {}),
      },
      ownerReferences: [{ kind: 'Deployment', name: 'web', uid: 'd-1', controller: true }],
    },
    spec: {
      replicas,
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: `registry/web:${revision}` }] },
      },
    },
    status: { replicas },
  });

t.test('describe deployment: replicas line, strategy, template, old and new ReplicaSets', async (t) => {
  const object = wrap({
    deployment: webDeployment({
      updatedReplicas: 2,
      replicas: 4,
      availableReplicas: 2,
      unavailableReplicas: 1,
    }),
  });
  const text = describeObject(object, {
    events: [],
    replicaSets: [replicaSet('web-1', 1, 1), replicaSet('web-2', 2, 3)],
    now,
  });
  t.match(text, /\nSelector: +app=web\n/);
  t.match(text, /\nReplicas: +3 desired \| 2 updated \| 4 total \| 2 available \| 1 unavailable\n/);
  t.match(text, /\nStrategyType: +RollingUpdate\n/);
  t.match(text, /\nRollingUpdateStrategy: +25% max unavailable, 25% max surge\n/);
  t.match(
    text,
    /\nPod Template:\n {2}Labels: +app=web\n {2}Containers:\n {3}web:\n {5}Image: +registry\/web:2\n/,
  );
  t.match(
    text,
    /\nOldReplicaSets: +web-1 \(1\/1 replicas created\)\nNewReplicaSet: +web-2 \(3\/3 replicas created\)\n/,
  );
});

t.test(
  'rollout history: revisions from the ReplicaSets, oldest first; one revision shows its template',
  async (t) => {
    const deployment = wrap({ deployment: webDeployment() });
    const foreign = ReplicaSet.fromJSON({
      metadata: {
        name: 'api-1',
        annotations: { 'deployment.kubernetes.io/revision': '9' },
        ownerReferences: [{ kind: 'Deployment', name: 'api', uid: 'd-2' }],
      },
    });
    const revisions = revisionsOf(deployment, [
      replicaSet('web-3', 3, 3, 'image 3'),
      replicaSet('web-1', 1, 0),
      foreign,
    ]);
    t.same(
      revisions.map((r) => r.revision),
      [1, 3],
    );
    t.equal(
      historyText('web', revisions),
      'deployment.apps/web\nREVISION   CHANGE-CAUSE\n1          <none>\n3          image 3\n',
    );
    t.match(
      historyText('web', revisions, 3),
      /^deployment\.apps\/web with revision #3\nPod Template:\n[^]*Image: +registry\/web:3\n/,
    );
    t.throws(() => historyText('web', revisions, 2), /deployment "web" has no revision 2; it has 1, 3/);
  },
);

t.test('unified diff: equal texts give nothing; hunks with three lines of context', async (t) => {
  t.equal(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'y'), '');
  const before = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'].join('\n') + '\n';
  const after = ['1', '2', '3', '4', 'five', '6', '7', '8', '9', '10', '11'].join('\n') + '\n';
  t.equal(
    unifiedDiff(before, after, 'live/x', 'merged/x'),
    '--- live/x\n+++ merged/x\n@@ -2,9 +2,10 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n 10\n+11\n',
  );
  const far = Array.from({ length: 20 }, (_, i) => String(i + 1));
  const farAfter = far.map((l) => (l === '2' || l === '19' ? `${l}!` : l));
  t.equal(
    unifiedDiff(far.join('\n'), farAfter.join('\n'), 'a', 'b'),
    '--- a\n+++ b\n@@ -1,5 +1,5 @@\n 1\n-2\n+2!\n 3\n 4\n 5\n@@ -16,5 +16,5 @@\n 16\n 17\n 18\n-19\n+19!\n 20\n',
    'changes far apart are two hunks',
  );
  t.equal(unifiedDiff('', 'a\nb\n', 'a', 'b'), '--- a\n+++ b\n@@ -0,0 +1,2 @@\n+a\n+b\n', 'a new object');
});

t.test('diff of an object: named like kubectl diff, live against merged', async (t) => {
  const live = wrap({ deployment: webDeployment() });
  const merged = wrap({ deployment: webDeployment({}, { replicas: 5 }) });
  const text = objectDiff(live, merged);
  t.match(
    text,
    /^--- live\/apps\.v1\.Deployment\.default\.web\n\+\+\+ merged\/apps\.v1\.Deployment\.default\.web\n/,
  );
  t.match(text, /\n- {2}replicas: 3\n\+ {2}replicas: 5\n/);
  t.equal(objectDiff(live, live), '');
  t.match(
    objectDiff(undefined, merged),
    /^--- live\/apps\.v1\.Deployment\.default\.web\n\+\+\+ merged[^\n]*\n@@ -0,0 \+1,\d+ @@\n\+apiVersion: apps\/v1\n/,
  );
});
