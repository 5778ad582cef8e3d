// Table tests of the deployment and ReplicaSet decisions and the rollout helpers: first
// rollout, scaling, rolling updates under several surge/unavailable settings, Recreate,
// paused, minReadySeconds, the progress deadline with its rollback (and the opt-out),
// history cleanup, undo, and the ReplicaSet's choice of pods.
import t from 'tap';
import { Deployment, type Pod, type ReplicaSet } from '@flotilla/proto';
import {
  decideDeployment,
  decideReplicaSet,
  deletionOrder,
  deploymentAnnotations,
  deploymentConditionReasons,
  getCondition,
  isPodActive,
  replicaSetName,
  resolveIntOrPercent,
  restartDeployment,
  revisionOf,
  rolloutBounds,
  sameTemplate,
  scaleObject,
  setPaused,
  templateHash,
  undoDeployment,
} from '@flotilla/controller';
import {
  DeploymentSim,
  makeDeployment,
  setReady,
  t0,
  withImage,
  withReplicas,
} from '../lib/deployment-sim.js';

const imageOf = (rs: ReplicaSet | undefined): string => rs?.spec?.template?.spec?.containers[0]?.image ?? '';

t.test(
  'the template hash is stable, ignores its own label and key order, and moves with collisionCount',
  async (t) => {
    const d = makeDeployment();
    const template = d.spec?.template;
    const reordered = Deployment.fromJSON(JSON.parse(JSON.stringify(Deployment.toJSON(d)))).spec?.template;
    t.equal(templateHash(template), templateHash(reordered));
    t.match(templateHash(template), /^[bcdfghjklmnpqrstvwxz2456789]+$/);
    const labelled = structuredClone(template);
    if (labelled?.metadata) labelled.metadata.labels['pod-template-hash'] = 'xyz';
    t.equal(templateHash(labelled), templateHash(template), 'the pod-template-hash label is not hashed');
    t.ok(sameTemplate(labelled, template));
    t.not(templateHash(template, 1), templateHash(template), 'collisionCount changes the hash');
    t.not(templateHash(withImage(d, 'registry.local/web:2').spec?.template), templateHash(template));
  },
);

t.test('maxSurge and maxUnavailable resolve as Kubernetes resolves them', async (t) => {
  const rows: [string | undefined, string | undefined, number, number, number][] = [
    // surge, unavailable, replicas → surge, unavailable
    [undefined, undefined, 4, 1, 1],
    [undefined, undefined, 10, 3, 2],
    ['30%', '15%', 10, 3, 1],
    ['1', '0', 4, 1, 0],
    ['0', '0', 4, 0, 1],
    ['0%', '0%', 3, 0, 1],
    ['0', '10', 3, 0, 3],
    ['50%', '50%', 3, 2, 1],
  ];
  for (const [maxSurge, maxUnavailable, replicas, surge, unavailable] of rows) {
    t.same(
      rolloutBounds(makeDeployment({ maxSurge, maxUnavailable, replicas })),
      { maxSurge: surge, maxUnavailable: unavailable },
      `surge ${maxSurge} unavailable ${maxUnavailable} of ${replicas}`,
    );
  }
  t.same(rolloutBounds(makeDeployment({ strategy: 'Recreate' })), { maxSurge: 0, maxUnavailable: 0 });
  t.equal(resolveIntOrPercent('nonsense', 4, true), undefined);
});

t.test(
  'first rollout: a ReplicaSet named by the hash, revision 1, owned, then its pods, unbound',
  async (t) => {
    const sim = new DeploymentSim(makeDeployment({ replicas: 3 }));
    const plan = sim.step();
    const rs = plan.createReplicaSet;
    const hash = templateHash(sim.deployment.spec?.template);
    t.equal(rs?.metadata?.name, replicaSetName('web', hash));
    t.equal(rs?.spec?.replicas, 3);
    t.equal(revisionOf(rs ?? {}), 1);
    t.same(rs?.metadata?.ownerReferences, [
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'web-uid', controller: true },
    ]);
    t.same(rs?.spec?.selector?.matchLabels, { app: 'web', 'pod-template-hash': hash });
    t.equal(rs?.spec?.template?.metadata?.labels['pod-template-hash'], hash);
    t.match(plan.events, [
      { reason: 'ScalingReplicaSet', message: `Scaled up replica set web-${hash} from 0 to 3` },
    ]);
    t.equal(sim.pods.length, 3);
    for (const pod of sim.pods) {
      t.match(pod.metadata?.name, new RegExp(`^web-${hash}-[a-z0-9]{5}$`));
      t.same(pod.metadata?.labels, { app: 'web', 'pod-template-hash': hash });
      t.same(pod.metadata?.ownerReferences, [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: `web-${hash}`,
          uid: rs?.metadata?.uid,
          controller: true,
        },
      ]);
      t.equal(pod.spec?.nodeName, '', 'the scheduler binds it');
      t.equal(pod.status?.phase, 'Pending');
    }
    const status = sim.deployment.status;
    t.match(status, {
      observedGeneration: 1,
      replicas: 0,
      updatedReplicas: 0,
      availableReplicas: 0,
      unavailableReplicas: 3,
    });
    t.match(getCondition(status, 'Progressing'), { status: 'True', reason: 'NewReplicaSetCreated' });
    t.match(getCondition(status, 'Available'), { status: 'False', reason: 'MinimumReplicasUnavailable' });
    sim.ready();
    sim.settle();
    t.match(sim.deployment.status, {
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      unavailableReplicas: 0,
    });
    t.match(getCondition(sim.deployment.status, 'Progressing'), {
      status: 'True',
      reason: 'NewReplicaSetAvailable',
    });
    t.match(getCondition(sim.deployment.status, 'Available'), {
      status: 'True',
      reason: 'MinimumReplicasAvailable',
    });
    t.ok(
      sim.current()?.metadata?.annotations[deploymentAnnotations.completedAt],
      'a completed revision is marked good',
    );
    t.equal(sim.settle(), 0, 'nothing more to do');
  },
);

t.test(
  'scaling up and down changes the one ReplicaSet; scale-down deletes unscheduled, then not ready, pods first',
  async (t) => {
    const sim = new DeploymentSim(makeDeployment({ replicas: 3 }));
    sim.settle();
    sim.deployment = withReplicas(sim.deployment, 5);
    sim.step();
    t.equal(sim.current()?.spec?.replicas, 5);
    t.equal(sim.activePods().length, 5);
    t.match(sim.lastPlan?.events, [{ reason: 'ScalingReplicaSet', message: /from 3 to 5$/ }]);
    // Of the two new pods, one is bound but not ready, one unbound: both go first.
    const [a, b] = sim.pods.slice(3);
    sim.pods = sim.pods.map((p) =>
      p === a ? { ...p, spec: p.spec && { ...p.spec, nodeName: 'node-b' } } : p,
    );
    sim.deployment = withReplicas(sim.deployment, 3);
    sim.step();
    t.equal(sim.current()?.spec?.replicas, 3);
    const deleted = sim.pods.filter((p) => !isPodActive(p)).map((p) => p.metadata?.name);
    t.same(deleted.sort(), [a?.metadata?.name, b?.metadata?.name].sort());
    sim.deployment = withReplicas(sim.deployment, 0);
    sim.settle();
    t.equal(sim.activePods().length, 0);
    t.match(sim.deployment.status, { replicas: 0, availableReplicas: 0, unavailableReplicas: 0 });
  },
);

t.test('rolling updates step by maxSurge and maxUnavailable, gated on readiness', async (t) => {
  // replicas of [new, old] after each step, every pod becoming ready right after the step.
  const rows: { name: string; surge: string; unavailable: string; steps: [number, number][] }[] = [
    {
      name: 'surge 1, unavailable 0',
      surge: '1',
      unavailable: '0',
      steps: [
        [1, 4],
        [1, 3],
        [2, 3],
        [2, 2],
        [3, 2],
        [3, 1],
        [4, 1],
        [4, 0],
      ],
    },
    {
      name: 'surge 0, unavailable 1',
      surge: '0',
      unavailable: '1',
      steps: [
        [0, 3],
        [1, 3],
        [1, 2],
        [2, 2],
        [2, 1],
        [3, 1],
        [3, 0],
        [4, 0],
      ],
    },
    {
      name: '25% and 25% (1 and 1 of 4)',
      surge: '25%',
      unavailable: '25%',
      steps: [
        [1, 3],
        [2, 3],
        [2, 1],
        [4, 1],
        [4, 0],
      ],
    },
    {
      name: 'both 0 means unavailable 1',
      surge: '0%',
      unavailable: '0',
      steps: [
        [0, 3],
        [1, 3],
        [1, 2],
        [2, 2],
        [2, 1],
        [3, 1],
        [3, 0],
        [4, 0],
      ],
    },
    {
      name: 'surge 100%',
      surge: '100%',
      unavailable: '0',
      steps: [
        [4, 4],
        [4, 0],
      ],
    },
  ];
  for (const row of rows) {
    const sim = new DeploymentSim(
      makeDeployment({ replicas: 4, maxSurge: row.surge, maxUnavailable: row.unavailable }),
    );
    sim.settle();
    sim.deployment = withImage(sim.deployment, 'registry.local/web:2');
    const seen: [number, number][] = [];
    for (let i = 0; i < 20; i++) {
      sim.step();
      sim.ready();
      const r = sim.replicasByImage();
      const pair: [number, number] = [r['registry.local/web:2'] ?? 0, r['registry.local/web:1'] ?? 0];
      const last = seen[seen.length - 1];
      if (!last || last[0] !== pair[0] || last[1] !== pair[1]) seen.push(pair);
    }
    t.same(seen, row.steps, row.name);
    t.match(
      sim.deployment.status,
      { updatedReplicas: 4, availableReplicas: 4, replicas: 4 },
      `${row.name}: complete`,
    );
    t.equal(revisionOf(sim.current() ?? {}), 2);
  }
});

t.test(
  'a rolling update whose new pods never get ready stops at maxSurge and keeps every old pod',
  async (t) => {
    const sim = new DeploymentSim(makeDeployment({ replicas: 4, maxSurge: '1', maxUnavailable: '0' }));
    sim.settle();
    sim.deployment = withImage(sim.deployment, 'registry.local/web:2');
    for (let i = 0; i < 10; i++) sim.step();
    t.same(sim.replicasByImage(), { 'registry.local/web:1': 4, 'registry.local/web:2': 1 });
    t.equal(sim.availableCount(), 4);
  },
);

t.test('Recreate stops every old pod before the first new one starts', async (t) => {
  const sim = new DeploymentSim(makeDeployment({ replicas: 3, strategy: 'Recreate' }));
  sim.settle();
  sim.deployment = withImage(sim.deployment, 'registry.local/web:2');
  const plan = sim.step();
  t.notOk(plan.createReplicaSet, 'no new ReplicaSet while old pods run');
  t.same(sim.replicasByImage(), { 'registry.local/web:1': 0 });
  t.equal(sim.activePods().length, 0);
  t.equal(sim.pods.length, 3, 'the old pods are still stopping');
  const next = sim.step();
  t.equal(next.createReplicaSet?.spec?.replicas, 3, 'then the new revision at full size');
  t.ok(sim.activePods().every((p) => p.spec?.containers[0]?.image === 'registry.local/web:2'));
  sim.settle();
  t.match(sim.deployment.status, { updatedReplicas: 3, availableReplicas: 3 });
});

t.test('paused: no rollout, but scaling applies; resuming rolls out', async (t) => {
  const sim = new DeploymentSim(makeDeployment({ replicas: 2 }));
  sim.settle();
  sim.deployment = setPaused(withImage(sim.deployment, 'registry.local/web:2'), true);
  sim.settle();
  t.same(sim.replicasByImage(), { 'registry.local/web:1': 2 }, 'no new revision while paused');
  t.match(getCondition(sim.deployment.status, 'Progressing'), {
    status: 'Unknown',
    reason: 'DeploymentPaused',
  });
  sim.deployment = withReplicas(sim.deployment, 4);
  sim.settle();
  t.same(sim.replicasByImage(), { 'registry.local/web:1': 4 }, 'scaled while paused');
  sim.deployment = setPaused(sim.deployment, false);
  sim.settle();
  t.same(sim.replicasByImage(), { 'registry.local/web:1': 0, 'registry.local/web:2': 4 });
  t.match(getCondition(sim.deployment.status, 'Progressing'), {
    status: 'True',
    reason: 'NewReplicaSetAvailable',
  });
});

t.test(
  'minReadySeconds: a pod counts as available only after it, and the plan asks to look again then',
  async (t) => {
    const sim = new DeploymentSim(
      makeDeployment({ replicas: 2, minReadySeconds: 10, maxSurge: '1', maxUnavailable: '0' }),
    );
    sim.step();
    sim.ready();
    const plan = sim.step();
    t.equal(plan.requeueAfterMs, 10_000);
    t.match(sim.deployment.status, { readyReplicas: 2, availableReplicas: 0 });
    sim.advance(9_999);
    sim.step();
    t.match(sim.deployment.status, { availableReplicas: 0 });
    sim.advance(1);
    sim.step();
    t.match(sim.deployment.status, { availableReplicas: 2 });
    // A rolling update waits for the new pod to be available before dropping an old one.
    sim.deployment = withImage(sim.deployment, 'registry.local/web:2');
    sim.step();
    sim.ready();
    sim.step();
    sim.advance(5_000);
    sim.step();
    t.same(
      sim.replicasByImage(),
      { 'registry.local/web:1': 2, 'registry.local/web:2': 1 },
      'ready 5 s of 10: old kept',
    );
    sim.advance(5_000);
    sim.step();
    t.same(sim.replicasByImage(), { 'registry.local/web:1': 1, 'registry.local/web:2': 1 });
  },
);

function failedRollout(annotations: Record<string, string> = {}): DeploymentSim {
  const sim = new DeploymentSim(
    makeDeployment({
      replicas: 2,
      progressDeadlineSeconds: 30,
      maxSurge: '1',
      maxUnavailable: '0',
      annotations,
    }),
  );
  sim.settle();
  sim.advance(1_000);
  sim.deployment = withImage(sim.deployment, 'registry.local/web:2');
  sim.step();
  // Its pod is created (progress), and then never gets ready.
  sim.step();
  sim.advance(29_000);
  sim.step();
  return sim;
}

t.test(
  'a rollout past its progress deadline is failed and rolled back to the last good revision',
  async (t) => {
    const sim = failedRollout();
    t.match(getCondition(sim.deployment.status, 'Progressing'), { status: 'True' }, 'not yet: 29 s of 30');
    t.equal(sim.lastPlan?.requeueAfterMs, 1_000, 'asks to look again at the deadline');
    sim.advance(1_000);
    const plan = sim.step();
    t.equal(plan.rollbackTo, 1);
    t.match(plan.events, [
      { type: 'Warning', reason: 'ProgressDeadlineExceeded', message: /has timed out progressing/ },
      { type: 'Normal', reason: 'DeploymentRollback', message: 'Rolled back deployment web to revision 1' },
    ]);
    const progressing = getCondition(sim.deployment.status, 'Progressing');
    t.match(progressing, { status: 'False', reason: deploymentConditionReasons.progressDeadlineExceeded });
    t.equal(sim.deployment.spec?.template?.spec?.containers[0]?.image, 'registry.local/web:1');
    t.equal(sim.deployment.metadata?.generation, 3);
    sim.step();
    t.equal(imageOf(sim.current()), 'registry.local/web:1');
    t.equal(revisionOf(sim.current() ?? {}), 3, 'the good revision is current again, as revision 3');
    t.equal(sim.current()?.metadata?.annotations[deploymentAnnotations.revisionHistory], '1');
    t.match(getCondition(sim.deployment.status, 'Progressing'), {
      status: 'True',
      reason: 'FoundNewReplicaSet',
    });
    sim.settle();
    t.same(sim.replicasByImage(), { 'registry.local/web:1': 2, 'registry.local/web:2': 0 });
    t.match(getCondition(sim.deployment.status, 'Progressing'), {
      status: 'True',
      reason: 'NewReplicaSetAvailable',
    });
  },
);

t.test(
  'with flotilla.io/auto-rollback "false" a failed rollout stays failed, and is not rolled back',
  async (t) => {
    const sim = failedRollout({ [deploymentAnnotations.autoRollback]: 'false' });
    sim.advance(1_000);
    const plan = sim.step();
    t.equal(plan.rollbackTo, undefined);
    t.match(plan.events, [{ reason: 'ProgressDeadlineExceeded' }]);
    t.notMatch(plan.events, [{ reason: 'DeploymentRollback' }]);
    t.match(getCondition(sim.deployment.status, 'Progressing'), {
      status: 'False',
      reason: 'ProgressDeadlineExceeded',
      message: /ReplicaSet "web-\w+" has timed out progressing/,
    });
    sim.advance(60_000);
    sim.step();
    t.equal(sim.deployment.spec?.template?.spec?.containers[0]?.image, 'registry.local/web:2');
    t.same(sim.replicasByImage(), { 'registry.local/web:1': 2, 'registry.local/web:2': 1 });
  },
);

t.test('a first rollout past its deadline has nothing to roll back to', async (t) => {
  const sim = new DeploymentSim(makeDeployment({ replicas: 1, progressDeadlineSeconds: 5 }));
  sim.step();
  sim.step();
  sim.advance(5_000);
  const plan = sim.step();
  t.equal(plan.rollbackTo, undefined);
  t.match(getCondition(sim.deployment.status, 'Progressing'), {
    status: 'False',
    reason: 'ProgressDeadlineExceeded',
  });
});

t.test('history: old revisions beyond revisionHistoryLimit are deleted, oldest first', async (t) => {
  const sim = new DeploymentSim(makeDeployment({ replicas: 1, revisionHistoryLimit: 2 }));
  sim.settle();
  for (let v = 2; v <= 5; v++) {
    sim.deployment = withImage(sim.deployment, `registry.local/web:${v}`);
    sim.settle();
  }
  const revisions = sim.replicaSets.map((rs) => revisionOf(rs)).sort((a, b) => a - b);
  t.same(revisions, [3, 4, 5]);
  t.same(sim.replicaSets.map(imageOf).sort(), [
    'registry.local/web:3',
    'registry.local/web:4',
    'registry.local/web:5',
  ]);
});

t.test('undo: to a revision, to the previous one, and what it refuses', async (t) => {
  const sim = new DeploymentSim(makeDeployment({ replicas: 1 }));
  sim.settle();
  for (const v of [2, 3]) {
    sim.deployment = withImage(sim.deployment, `registry.local/web:${v}`);
    sim.settle();
  }
  const previous = undoDeployment(sim.deployment, sim.replicaSets, 0);
  t.equal(previous.revision, 2);
  t.equal(previous.deployment.spec?.template?.spec?.containers[0]?.image, 'registry.local/web:2');
  t.equal(previous.deployment.metadata?.generation, (sim.deployment.metadata?.generation ?? 0) + 1);
  const first = undoDeployment(sim.deployment, sim.replicaSets, 1);
  t.equal(first.deployment.spec?.template?.spec?.containers[0]?.image, 'registry.local/web:1');
  t.notOk(
    first.deployment.spec?.template?.metadata?.labels['pod-template-hash'],
    'the hash label stays on the ReplicaSet',
  );
  sim.deployment = first.deployment;
  sim.settle();
  t.equal(imageOf(sim.current()), 'registry.local/web:1');
  t.equal(revisionOf(sim.current() ?? {}), 4, 'revision 1 became revision 4');
  t.same(sim.replicasByImage(), {
    'registry.local/web:1': 1,
    'registry.local/web:2': 0,
    'registry.local/web:3': 0,
  });
  t.equal(undoDeployment(sim.deployment, sim.replicaSets, 0).revision, 3, 'then the previous is 3');
  t.throws(() => undoDeployment(sim.deployment, sim.replicaSets, 9), {
    code: 'NotFound',
    message: /toRevision: revision 9 of deployment "default\/web" not found; its revisions are 2, 3, 4/,
  });
  t.throws(() => undoDeployment(setPaused(sim.deployment, true), sim.replicaSets, 0), {
    code: 'FailedPrecondition',
    message: /is paused/,
  });
  t.throws(() => undoDeployment(sim.deployment, sim.replicaSets, -1), {
    code: 'InvalidArgument',
    context: { field: 'toRevision' },
  });
  const lonely = new DeploymentSim(makeDeployment({ name: 'solo' }));
  lonely.settle();
  t.throws(() => undoDeployment(lonely.deployment, lonely.replicaSets, 0), {
    code: 'FailedPrecondition',
    message: /no previous revision/,
  });
});

t.test(
  'restart makes a new revision with the same pod spec; pause, resume and scale change only their field',
  async (t) => {
    const d = makeDeployment();
    const restarted = restartDeployment(d, new Date(t0));
    t.equal(
      restarted.spec?.template?.metadata?.annotations['flotilla.io/restartedAt'],
      new Date(t0).toISOString(),
    );
    t.notOk(sameTemplate(restarted.spec?.template, d.spec?.template));
    t.same(restarted.spec?.template?.spec, d.spec?.template?.spec);
    t.equal(restarted.metadata?.generation, 2);
    t.equal(setPaused(d, false), d, 'no change, same object');
    t.equal(setPaused(d, true).spec?.paused, true);
    t.equal(scaleObject('Deployment', d, 7).spec?.replicas, 7);
    t.equal(scaleObject('Deployment', d, 3), d);
    t.throws(() => scaleObject('Deployment', d, -1), {
      code: 'InvalidArgument',
      message: /replicas: -1 is not valid for deployment "default\/web": it must be 0 or more/,
    });
  },
);

t.test('a name taken by another template bumps collisionCount and picks another name', async (t) => {
  const d = makeDeployment();
  const name = replicaSetName('web', templateHash(d.spec?.template));
  const squatter: ReplicaSet = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name,
      namespace: 'default',
      uid: 'other',
      resourceVersion: '3',
      generation: 1,
      creationTimestamp: '',
      deletionTimestamp: '',
      labels: {},
      annotations: {},
      ownerReferences: [],
    },
    spec: {
      replicas: 0,
      selector: undefined,
      template: withImage(d, 'other:1').spec?.template,
      minReadySeconds: 0,
    },
    status: undefined,
  };
  const plan = decideDeployment({
    deployment: d,
    replicaSets: [squatter],
    pods: [],
    now: new Date(t0),
    uid: () => 'u',
  });
  t.equal(plan.createReplicaSet?.metadata?.name, replicaSetName('web', templateHash(d.spec?.template, 1)));
  t.equal(plan.deployment?.status?.collisionCount, 1);
});

function pod(
  name: string,
  options: { node?: string; ready?: boolean; readyAt?: number; created?: number; deleting?: boolean },
): Pod {
  const base = new DeploymentSim(makeDeployment());
  base.step();
  const template = base.pods[0] as Pod;
  let p: Pod = {
    ...template,
    metadata: template.metadata && {
      ...template.metadata,
      name,
      creationTimestamp: new Date(options.created ?? t0).toISOString(),
      deletionTimestamp: options.deleting ? new Date(t0).toISOString() : '',
    },
    spec: template.spec && { ...template.spec, nodeName: options.node ?? '' },
  };
  if (options.ready !== undefined) p = setReady(p, options.ready, options.readyAt ?? t0);
  if (!options.node && p.spec) p = { ...p, spec: { ...p.spec, nodeName: '' } };
  return p;
}

t.test(
  'a ReplicaSet deletes the unscheduled, then the not ready, then the newest pods; pods being deleted do not count',
  async (t) => {
    const pods = [
      pod('old-ready', { node: 'n1', ready: true, readyAt: t0 - 60_000, created: t0 - 60_000 }),
      pod('new-ready', { node: 'n1', ready: true, readyAt: t0 - 1_000, created: t0 - 2_000 }),
      pod('not-ready', { node: 'n1', ready: false, created: t0 - 90_000 }),
      pod('unscheduled', { created: t0 - 100_000 }),
    ];
    t.same(
      [...pods].sort(deletionOrder).map((p) => p.metadata?.name),
      ['unscheduled', 'not-ready', 'new-ready', 'old-ready'],
    );
    const base = new DeploymentSim(makeDeployment({ replicas: 4 }));
    base.step();
    const rs = base.replicaSets[0] as ReplicaSet;
    const owned = pods.map((p) => ({
      ...p,
      metadata: p.metadata && {
        ...p.metadata,
        ownerReferences: (base.pods[0] as Pod).metadata?.ownerReferences ?? [],
      },
    }));
    const scaled = { ...rs, spec: rs.spec && { ...rs.spec, replicas: 1 } };
    const plan = decideReplicaSet({
      replicaSet: scaled,
      pods: owned,
      now: new Date(t0),
      uid: () => 'u',
      suffix: () => 'abcde',
    });
    t.same(
      plan.delete.map((p) => p.metadata?.name),
      ['unscheduled', 'not-ready', 'new-ready'],
    );
    t.same(plan.create, []);
    // One being deleted: a replacement is made at once.
    const rename = (p: Pod, change: { name?: string; deletionTimestamp?: string }): Pod => ({
      ...p,
      metadata: p.metadata && { ...p.metadata, ...change },
    });
    const withDeleting = owned.map((p, i) =>
      i === 3 ? rename(p, { deletionTimestamp: new Date(t0).toISOString() }) : p,
    );
    const full = decideReplicaSet({
      replicaSet: rs,
      pods: withDeleting,
      now: new Date(t0),
      uid: () => 'u',
      suffix: () => 'abcde',
    });
    t.equal(full.create.length, 1);
    t.equal(full.create[0]?.metadata?.name, `${rs.metadata?.name}-abcde`);
    t.match(full.status, { replicas: 3, readyReplicas: 2, availableReplicas: 2 });
    // A name already taken is drawn again.
    const suffixes = ['abcde', 'fghij'];
    const taken = [...withDeleting, rename(owned[0] as Pod, { name: `${rs.metadata?.name}-abcde` })];
    const five = { ...rs, spec: rs.spec && { ...rs.spec, replicas: 5 } };
    const again = decideReplicaSet({
      replicaSet: five,
      pods: taken,
      now: new Date(t0),
      uid: () => 'u',
      suffix: () => suffixes.shift() ?? 'zzzzz',
    });
    t.same(
      again.create.map((p) => p.metadata?.name),
      [`${rs.metadata?.name}-fghij`],
    );
  },
);

t.test('scaling in the middle of a rollout scales every active revision in proportion', async (t) => {
  const sim = new DeploymentSim(makeDeployment({ replicas: 4, maxSurge: '1', maxUnavailable: '0' }));
  sim.settle();
  sim.deployment = withImage(sim.deployment, 'registry.local/web:2');
  sim.step();
  sim.ready();
  sim.step();
  sim.step();
  t.same(
    sim.replicasByImage(),
    { 'registry.local/web:1': 3, 'registry.local/web:2': 2 },
    'mid-rollout, 5 of at most 5',
  );
  // 8 replicas: at most 9 (surge 1); the 4 more shared in proportion to the 3:2 there is.
  sim.deployment = withReplicas(sim.deployment, 8);
  const plan = sim.step();
  t.same(sim.replicasByImage(), { 'registry.local/web:1': 5, 'registry.local/web:2': 4 });
  t.equal(plan.events.filter((e) => e.reason === 'ScalingReplicaSet').length, 2);
  sim.settle();
  t.same(
    sim.replicasByImage(),
    { 'registry.local/web:1': 0, 'registry.local/web:2': 8 },
    'and then the rollout finishes',
  );
});

t.test('a changed minReadySeconds is carried to the current ReplicaSet', async (t) => {
  const sim = new DeploymentSim(makeDeployment({ replicas: 1 }));
  sim.settle();
  const d = Deployment.fromJSON(Deployment.toJSON(sim.deployment));
  if (d.spec) d.spec.minReadySeconds = 7;
  sim.deployment = d;
  sim.step();
  t.equal(sim.current()?.spec?.minReadySeconds, 7);
});
