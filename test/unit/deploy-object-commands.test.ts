// The declarative commands against a fake object API (no servers): what each sends, what
// it prints, and its exit code — apply (and --wait), diff, get (and -w), delete, scale,
// rollout, cordon and drain.
import t from 'tap';
import { FlotillaError } from '@flotilla/common';
import {
  applyManifests,
  deleteObjects,
  describeOne,
  rolloutHistory,
  diffManifests,
  drainNode,
  getObjects,
  kindInfo,
  placeInNamespace,
  rolloutAction,
  rolloutStatus,
  scaleObject,
  setCordoned,
  watchObjects,
  WatchPrinter,
  type KindInfo,
  type LoadedManifest,
  type ObjectApi,
  type ServerStream,
} from '@flotilla/deploy';
import {
  Deployment,
  Event,
  Node,
  ReplicaSet,
  type Object as ApiObject,
  type ObjectEvent,
  Pod,
  PodEvent_Type,
  RolloutRequest_Action,
  type ApplyResponse,
} from '@flotilla/proto';

const info = (kind: string): KindInfo => kindInfo(kind) as KindInfo;
const now = new Date('2026-12-01T12:00:00Z');

function capture() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: { stdout: (s: string) => void (out.stdout += s), stderr: (s: string) => void (out.stderr += s) },
  };
}

/** A server stream of the given events that, once they are out, waits for cancel (or ends, with end). */
function streamOf<T>(
  events: readonly T[],
  options: { end?: boolean } = {},
): ServerStream<T> & { cancelled: boolean } {
  let release: () => void = () => undefined;
  const cancelled = new Promise<void>((resolve) => (release = resolve));
  const state = { cancelled: false };
  async function* read(): AsyncGenerator<T> {
    for (const event of events) {
      if (state.cancelled) return;
      yield event;
    }
    if (!options.end) await cancelled;
  }
  const iterable = read();
  return Object.assign(state, {
    [Symbol.asyncIterator]: () => iterable,
    cancel: () => {
      state.cancelled = true;
      release();
    },
  });
}

const deployment = (name: string, status: Record<string, unknown>, generation = 1) =>
  Deployment.fromJSON({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default', generation },
    spec: { replicas: 3 },
    status: { observedGeneration: generation, ...status },
  });

const event = (d: Deployment, type = PodEvent_Type.MODIFIED): ObjectEvent => ({
  type,
  object: { deployment: d },
});

const manifest = (object: ApiObject, kind: string): LoadedManifest => ({
  document: { source: 'web.yaml', index: 1, value: {} },
  label: `${kind}/web`,
  info: info(kind),
  object,
});

/** Every ObjectApi method refuses unless the test gives it. */
function fakeApi(methods: Partial<ObjectApi>): ObjectApi {
  const refuse = (name: string) => () => {
    throw new Error(`unexpected call ${name}`);
  };
  return {
    apply: refuse('apply'),
    getObject: refuse('getObject'),
    listObjects: refuse('listObjects'),
    watchObjects: refuse('watchObjects'),
    deleteObject: refuse('deleteObject'),
    scale: refuse('scale'),
    rollout: refuse('rollout'),
    cordonNode: refuse('cordonNode'),
    evictPod: refuse('evictPod'),
    ...methods,
  };
}

const webDeployment = Deployment.fromJSON({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default' },
});
const webService: ApiObject = {
  service: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' } } as never,
};

t.test('apply sends every object in one call and prints kubectl lines', async (t) => {
  const calls: Array<{ count: number; dryRun: boolean }> = [];
  const api = fakeApi({
    apply: async (objects, dryRun): Promise<ApplyResponse> => {
      calls.push({ count: objects.length, dryRun });
      return {
        results: [
          { object: objects[0], action: 'created' },
          { object: objects[1], action: 'unchanged' },
        ],
      };
    },
  });
  const manifests = [manifest({ deployment: webDeployment }, 'Deployment'), manifest(webService, 'Service')];
  const { out, io } = capture();
  t.equal(await applyManifests(api, manifests, { dryRun: false, wait: false, timeoutMs: 1000 }, io), 0);
  t.equal(out.stdout, 'deployment.apps/web created\nservice/web unchanged\n');
  const dry = capture();
  t.equal(await applyManifests(api, manifests, { dryRun: true, wait: true, timeoutMs: 1000 }, dry.io), 0);
  t.equal(
    dry.out.stdout,
    'deployment.apps/web created (dry run)\nservice/web unchanged (dry run)\n',
    'a dry run does not wait',
  );
  t.same(calls, [
    { count: 2, dryRun: false },
    { count: 2, dryRun: true },
  ]);
});

t.test('apply --wait: progress lines until the rollout succeeds, exit 0', async (t) => {
  const stream = streamOf([
    event(deployment('web', { observedGeneration: 1 }, 2)),
    event(deployment('web', { replicas: 3, updatedReplicas: 1 }, 2)),
    event(deployment('web', { replicas: 3, updatedReplicas: 1 }, 2)),
    event(deployment('web', { replicas: 3, updatedReplicas: 3, availableReplicas: 1 }, 2)),
    event(deployment('web', { replicas: 3, updatedReplicas: 3, availableReplicas: 3 }, 2)),
  ]);
  const watched: string[] = [];
  const api = fakeApi({
    apply: async (objects) => ({ results: [{ object: objects[0], action: 'configured' }] }),
    watchObjects: (request) => {
      watched.push(`${request.kind} ${request.namespace}/${request.name}`);
      return stream;
    },
  });
  const { out, io } = capture();
  const code = await applyManifests(
    api,
    [manifest({ deployment: webDeployment }, 'Deployment')],
    { dryRun: false, wait: true, timeoutMs: 60_000 },
    io,
  );
  t.equal(code, 0);
  t.same(watched, ['Deployment default/web']);
  t.equal(out.stdout, 'deployment.apps/web configured\ndeployment "web" successfully rolled out\n');
  t.equal(
    out.stderr,
    'Waiting for deployment spec update to be observed...\n' +
      'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...\n' +
      'Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...\n',
    'each new state once',
  );
  t.ok(stream.cancelled, 'the watch is ended');
});

t.test('apply --wait: a failed rollout exits 1 with the reason; running out of time says so', async (t) => {
  const failed = deployment('web', {
    replicas: 3,
    updatedReplicas: 1,
    conditions: [
      {
        type: 'Progressing',
        status: 'False',
        reason: 'ProgressDeadlineExceeded',
        message: 'ReplicaSet "web-2" has timed out progressing.',
      },
    ],
  });
  const api = fakeApi({
    apply: async (objects) => ({ results: [{ object: objects[0], action: 'configured' }] }),
    watchObjects: () => streamOf([event(failed)]),
  });
  const { out, io } = capture();
  t.equal(
    await applyManifests(
      api,
      [manifest({ deployment: webDeployment }, 'Deployment')],
      { dryRun: false, wait: true, timeoutMs: 60_000 },
      io,
    ),
    1,
  );
  t.equal(
    out.stderr,
    'error: deployment "web" exceeded its progress deadline (ProgressDeadlineExceeded): ReplicaSet "web-2" has timed out progressing.\n',
  );

  const slow = fakeApi({
    apply: async (objects) => ({ results: [{ object: objects[0], action: 'configured' }] }),
    watchObjects: () => streamOf([event(deployment('web', { replicas: 3, updatedReplicas: 1 }))]),
  });
  const late = capture();
  t.equal(
    await applyManifests(
      slow,
      [manifest({ deployment: webDeployment }, 'Deployment')],
      { dryRun: false, wait: true, timeoutMs: 20 },
      late.io,
    ),
    1,
  );
  t.match(
    late.out.stderr,
    /\nerror: timed out after 20ms waiting for deployment "web" \(1 out of 3 new replicas have been updated\)\n$/,
  );
});

t.test('rollout status: exit 0 on success, 1 when the deployment is deleted or the watch ends', async (t) => {
  const ok = capture();
  const done = fakeApi({
    watchObjects: () =>
      streamOf([event(deployment('web', { replicas: 3, updatedReplicas: 3, availableReplicas: 3 }))]),
  });
  t.equal(await rolloutStatus(done, 'default', 'web', {}, ok.io), 0);
  t.equal(ok.out.stdout, 'deployment "web" successfully rolled out\n');
  const gone = capture();
  const deleted = fakeApi({
    watchObjects: () => streamOf([event(deployment('web', {}), PodEvent_Type.DELETED)]),
  });
  t.equal(await rolloutStatus(deleted, 'default', 'web', {}, gone.io), 1);
  t.match(gone.out.stderr, /deployment "web" was deleted/);
  const ended = capture();
  t.equal(
    await rolloutStatus(
      fakeApi({ watchObjects: () => streamOf([], { end: true }) }),
      'default',
      'web',
      {},
      ended.io,
    ),
    1,
  );
  t.match(ended.out.stderr, /ended the watch/);
});

t.test(
  'diff: exit 0 when nothing would change, 1 with the diff otherwise; a new object is all added',
  async (t) => {
    const stored = deployment('web', {});
    const changed = Deployment.fromJSON({ ...(Deployment.toJSON(stored) as object), spec: { replicas: 5 } });
    const make = (result: Deployment, live: Deployment | undefined) =>
      fakeApi({
        apply: async (_objects, dryRun) => {
          t.equal(dryRun, true, 'diff applies as a dry run');
          return { results: [{ object: { deployment: result }, action: 'configured' }] };
        },
        getObject: async () => {
          if (!live) throw new FlotillaError('NotFound', 'deployments.apps "web" not found');
          return { deployment: live };
        },
      });
    const m = [manifest({ deployment: webDeployment }, 'Deployment')];
    const same = capture();
    t.equal(await diffManifests(make(stored, stored), m, same.io), 0);
    t.equal(same.out.stdout, '');
    const diff = capture();
    t.equal(await diffManifests(make(changed, stored), m, diff.io), 1);
    t.match(
      diff.out.stdout,
      /^--- live\/apps\.v1\.Deployment\.default\.web\n\+\+\+ merged\/apps\.v1\.Deployment\.default\.web\n@@ /,
    );
    t.match(diff.out.stdout, /\n- {2}replicas: 3\n\+ {2}replicas: 5\n/);
    const added = capture();
    t.equal(await diffManifests(make(changed, undefined), m, added.io), 1);
    t.match(added.out.stdout, /\n@@ -0,0 \+1,\d+ @@\n\+apiVersion: apps\/v1\n/);
    const broken = fakeApi({
      apply: async () => ({ results: [{ object: { deployment: changed }, action: 'configured' }] }),
      getObject: async () => {
        throw new FlotillaError('Unavailable', 'controller down');
      },
    });
    await t.rejects(
      diffManifests(broken, m, capture().io),
      /controller down/,
      'other errors are errors, not differences',
    );
  },
);

t.test('get: a table of the list, documents, names that are missing, nothing found', async (t) => {
  const items: ApiObject[] = [
    { deployment: deployment('web', { readyReplicas: 3, updatedReplicas: 3, availableReplicas: 3 }) },
    { deployment: deployment('api', { readyReplicas: 1, updatedReplicas: 1, availableReplicas: 1 }) },
  ];
  const requests: unknown[] = [];
  const api = fakeApi({
    listObjects: async (request) => {
      requests.push(request);
      return { resourceVersion: '7', items: request.kind === 'Deployment' ? items : [] };
    },
    getObject: async (key) => {
      const found = items.find((o) => o.deployment?.metadata?.name === key.name);
      if (!found) throw new FlotillaError('NotFound', `deployments.apps "${key.name}" not found`);
      return found;
    },
  });
  const base = {
    info: info('Deployment'),
    names: [],
    namespace: 'default',
    labelSelector: 'app=web',
    output: undefined,
  };
  const table = capture();
  t.equal(await getObjects(api, base, table.io, now), 0);
  t.match(
    table.out.stdout,
    /^NAME +READY +UP-TO-DATE +AVAILABLE +AGE\napi +1\/3 +1 +1 +<unknown>\nweb +3\/3 +3 +3 +<unknown>\n$/,
  );
  t.same(requests, [
    { kind: 'Deployment', namespace: 'default', labelSelector: 'app=web', fieldSelector: '' },
  ]);
  const yaml = capture();
  t.equal(await getObjects(api, { ...base, names: ['web'], output: 'yaml' }, yaml.io, now), 0);
  t.match(yaml.out.stdout, /^apiVersion: apps\/v1\nkind: Deployment\nmetadata:\n {2}name: web\n/);
  const json = capture();
  t.equal(await getObjects(api, { ...base, output: 'json' }, json.io, now), 0);
  t.equal((JSON.parse(json.out.stdout) as { kind: string }).kind, 'List');
  const missing = capture();
  t.equal(await getObjects(api, { ...base, names: ['web', 'nope'] }, missing.io, now), 1);
  t.match(missing.out.stdout, /\nweb /);
  t.equal(missing.out.stderr, 'error: deployments.apps "nope" not found\n');
  const empty = capture();
  t.equal(await getObjects(api, { ...base, info: info('Service') }, empty.io, now), 0);
  t.equal(empty.out.stderr, 'No resources found in default namespace.\n');
  const all = capture();
  t.equal(await getObjects(api, { ...base, info: info('Service'), namespace: '' }, all.io, now), 0);
  t.equal(all.out.stderr, 'No resources found\n');
});

t.test('get -w: the header once, then a row per event, aligned as the widths grow', async (t) => {
  const rows: string[] = [];
  const printer = new WatchPrinter(['NAME', 'STATUS'], (s) => rows.push(s));
  printer.row(['a', 'Running']);
  printer.row(['a-much-longer-name', 'Pending']);
  t.same(rows, ['NAME   STATUS\n', 'a      Running\n', 'a-much-longer-name   Pending\n']);
  const pod = (phase: string): ObjectEvent => ({
    type: PodEvent_Type.MODIFIED,
    object: {
      pod: Pod.fromJSON({
        metadata: { name: 'web-1' },
        spec: { containers: [{ name: 'c' }] },
        status: { phase },
      }),
    },
  });
  const stream = streamOf([pod('Pending'), pod('Running')], { end: true });
  const { out, io } = capture();
  const request = {
    info: info('Pod'),
    names: [],
    namespace: 'default',
    labelSelector: '',
    output: undefined,
  };
  t.equal(await watchObjects(fakeApi({ watchObjects: () => stream }), request, io, () => now), 0);
  t.equal(
    out.stdout,
    'NAME    READY   STATUS    RESTARTS   AGE\nweb-1   0/1     Pending   0          <unknown>\nweb-1   0/1     Running   0          <unknown>\n',
  );
  const abort = new AbortController();
  const open = streamOf([pod('Running')]);
  const watching = watchObjects(fakeApi({ watchObjects: () => open }), request, {
    ...capture().io,
    signal: abort.signal,
  });
  abort.abort();
  t.equal(await watching, 0, 'Ctrl-C ends the watch');
  t.ok(open.cancelled);
});

t.test('delete: kubectl lines, going on past failures, --ignore-not-found', async (t) => {
  const requests: unknown[] = [];
  const api = fakeApi({
    deleteObject: async (request) => {
      requests.push(request);
      if (request.name === 'gone') throw new FlotillaError('NotFound', 'pods "gone" not found');
      return {};
    },
  });
  const targets = [
    { info: info('Deployment'), namespace: 'default', name: 'web' },
    { info: info('Pod'), namespace: 'default', name: 'gone' },
    { info: info('Namespace'), namespace: 'default', name: 'prod' },
  ];
  const { out, io } = capture();
  t.equal(
    await deleteObjects(api, targets, { dryRun: false, ignoreNotFound: false, gracePeriodSeconds: 0 }, io),
    1,
  );
  t.equal(out.stdout, 'deployment.apps "web" deleted\nnamespace "prod" deleted\n');
  t.equal(out.stderr, 'error: pods "gone" not found\n');
  t.same(
    requests[2],
    { kind: 'Namespace', namespace: '', name: 'prod', dryRun: false, gracePeriodSeconds: 0 },
    'cluster-scoped: no namespace',
  );
  const quiet = capture();
  t.equal(await deleteObjects(api, targets, { dryRun: true, ignoreNotFound: true }, quiet.io), 0);
  t.equal(quiet.out.stdout, 'deployment.apps "web" deleted (dry run)\nnamespace "prod" deleted (dry run)\n');
});

t.test('scale and rollout actions send the request and print what happened', async (t) => {
  const sent: unknown[] = [];
  const api = fakeApi({
    scale: async (request) => {
      sent.push(request);
      return {};
    },
    rollout: async (request) => {
      sent.push(request);
      return Deployment.fromJSON({});
    },
  });
  t.equal(
    await scaleObject(api, { info: info('Deployment'), namespace: 'prod', name: 'web' }, 5),
    'deployment.apps/web scaled',
  );
  t.equal(await rolloutAction(api, 'undo', 'default', 'web', 2), 'deployment.apps/web rolled back');
  t.equal(await rolloutAction(api, 'pause', 'default', 'web'), 'deployment.apps/web paused');
  t.equal(await rolloutAction(api, 'resume', 'default', 'web'), 'deployment.apps/web resumed');
  t.equal(await rolloutAction(api, 'restart', 'default', 'web'), 'deployment.apps/web restarted');
  t.same(sent, [
    { kind: 'Deployment', namespace: 'prod', name: 'web', replicas: 5 },
    { namespace: 'default', name: 'web', action: RolloutRequest_Action.UNDO, toRevision: 2 },
    { namespace: 'default', name: 'web', action: RolloutRequest_Action.PAUSE, toRevision: 0 },
    { namespace: 'default', name: 'web', action: RolloutRequest_Action.RESUME, toRevision: 0 },
    { namespace: 'default', name: 'web', action: RolloutRequest_Action.RESTART, toRevision: 0 },
  ]);
});

const node = (unschedulable: boolean) =>
  Node.fromJSON({ metadata: { name: 'node-2' }, spec: { unschedulable } });

t.test('cordon and uncordon: only when it changes something', async (t) => {
  const sent: unknown[] = [];
  const api = (cordoned: boolean) => ({
    getNode: async () => node(cordoned),
    cordonNode: async (request: { name: string; unschedulable: boolean }) => {
      sent.push(request);
      return node(request.unschedulable);
    },
  });
  t.equal(await setCordoned(api(false), 'node-2', true), 'node/node-2 cordoned');
  t.equal(await setCordoned(api(true), 'node-2', true), 'node/node-2 already cordoned');
  t.equal(await setCordoned(api(true), 'node-2', false), 'node/node-2 uncordoned');
  t.equal(await setCordoned(api(false), 'node-2', false), 'node/node-2 already uncordoned');
  t.same(sent, [
    { name: 'node-2', unschedulable: true },
    { name: 'node-2', unschedulable: false },
  ]);
});

const podOn = (name: string, deleting = false) =>
  Pod.fromJSON({
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      ...(deleting ? { deletionTimestamp: '2026-12-01T11:59:00Z' } : {}),
    },
  });

/** An evicted pod is still listed (stopping) once after its eviction, then gone. */
function drainApi(refusals: Record<string, number>, pods: Pod[], listedWhileStopping = 1) {
  const evicted: string[] = [];
  const listingsSinceEviction = new Map<string, number>();
  let cordoned = false;
  return {
    evicted,
    cordoned: () => cordoned,
    api: {
      getNode: async () => node(cordoned),
      cordonNode: async (request: { unschedulable: boolean }) => {
        cordoned = request.unschedulable;
        return node(cordoned);
      },
      listPods: async (request: { nodeName: string }) => {
        if (request.nodeName !== 'node-2') throw new Error('pods of the wrong node');
        const items = pods.filter(
          (p) => (listingsSinceEviction.get(p.metadata?.name ?? '') ?? 0) <= listedWhileStopping,
        );
        for (const [name, n] of listingsSinceEviction) listingsSinceEviction.set(name, n + 1);
        return { resourceVersion: '1', items };
      },
      evictPod: async (request: { name: string }) => {
        const left = refusals[request.name] ?? 0;
        if (left === -1) throw new FlotillaError('NotFound', 'gone');
        if (left > 0) {
          refusals[request.name] = left - 1;
          throw new FlotillaError(
            'ResourceExhausted',
            `evicting ${request.name} would take deployment "web" below 2 available pods`,
          );
        }
        evicted.push(request.name);
        listingsSinceEviction.set(request.name, 1);
        return podOn(request.name);
      },
    },
  };
}

t.test('drain: cordon, evict every pod, retrying those their Deployment cannot lose yet', async (t) => {
  const fake = drainApi({ 'web-b': 2, 'web-c': -1 }, [
    podOn('web-a'),
    podOn('web-b'),
    podOn('web-c'),
    podOn('old', true),
  ]);
  let clock = 0;
  const sleeps: number[] = [];
  const { out, io } = capture();
  const code = await drainNode(
    fake.api,
    'node-2',
    {
      timeoutMs: 60_000,
      retryMs: 5_000,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
      now: () => clock,
    },
    io,
  );
  t.equal(code, 0);
  t.ok(fake.cordoned(), 'cordoned first');
  t.same(fake.evicted, ['web-a', 'web-b'], 'a pod being deleted is left alone; one already gone is skipped');
  t.same(sleeps, [5_000, 5_000, 500], 'retries, then one wait for the evicted pods to stop');
  t.equal(
    out.stdout,
    'node/node-2 cordoned\n' +
      'evicting pod default/web-a\nevicting pod default/web-b\nevicting pod default/web-c\n' +
      'evicting pod default/web-b\nevicting pod default/web-b\npod/web-a evicted\npod/web-b evicted\nnode/node-2 drained\n',
    'a pod counts as evicted once it is gone from the node',
  );
  t.match(
    out.stderr,
    /^error when evicting pod default\/web-b \(will retry after 5s\): evicting web-b would take deployment "web" below 2 available pods\n/,
  );
});

t.test('drain: exit 1 naming the pods left when the time runs out', async (t) => {
  const fake = drainApi({ 'web-b': 100 }, [podOn('web-a'), podOn('web-b')]);
  let clock = 0;
  const { out, io } = capture();
  const code = await drainNode(
    fake.api,
    'node-2',
    {
      timeoutMs: 12_000,
      retryMs: 5_000,
      sleep: async (ms) => void (clock += ms),
      now: () => clock,
    },
    io,
  );
  t.equal(code, 1);
  t.same(fake.evicted, ['web-a']);
  t.match(
    out.stderr,
    /\nerror: drain of node\/node-2 not done within 12s; pods not evicted: default\/web-b\n$/,
  );
  t.notMatch(out.stdout, /drained/);
});

t.test('drain: exit 1 naming the evicted pods that never stopped in time', async (t) => {
  const fake = drainApi({}, [podOn('web-a')], Number.POSITIVE_INFINITY);
  let clock = 0;
  const { out, io } = capture();
  const code = await drainNode(
    fake.api,
    'node-2',
    { timeoutMs: 3_000, retryMs: 5_000, sleep: async (ms) => void (clock += ms), now: () => clock },
    io,
  );
  t.equal(code, 1);
  t.same(fake.evicted, ['web-a']);
  t.match(
    out.stderr,
    /^error: drain of node\/node-2 not done within 3s; pods evicted but still stopping: default\/web-a\n$/,
  );
  t.notMatch(out.stdout, /evicted|drained/);
});

t.test('objects without a namespace get -n; one naming another than an explicit -n is refused', async (t) => {
  const pod = (namespace: string): LoadedManifest =>
    manifest({ pod: Pod.fromJSON({ metadata: { name: 'web', namespace } }) }, 'Pod');
  const ns = manifest(
    { namespace: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } } as never },
    'Namespace',
  );
  const manifests = [pod(''), pod('prod'), ns];
  placeInNamespace(manifests, 'default', false);
  t.same(
    manifests.map((m) => m.object[m.info.field]?.metadata?.namespace),
    ['default', 'prod', undefined],
  );
  t.throws(
    () => placeInNamespace([pod('prod')], 'staging', true),
    /web\.yaml document 1 \(Pod\/web\): metadata\.namespace "prod" does not match -n staging/,
  );
});

t.test(
  "describe reads the object, its events by field selector, and a deployment's ReplicaSets",
  async (t) => {
    const lists: unknown[] = [];
    const owned = {
      replicaSet: ReplicaSet.fromJSON({
        metadata: {
          name: 'web-2',
          annotations: { 'deployment.kubernetes.io/revision': '2' },
          ownerReferences: [{ kind: 'Deployment', name: 'web', uid: 'd-1', controller: true }],
        },
        spec: { replicas: 3 },
        status: { replicas: 3 },
      }),
    };
    const other = {
      replicaSet: ReplicaSet.fromJSON({
        metadata: { name: 'api-1', ownerReferences: [{ kind: 'Deployment', name: 'api', uid: 'd-2' }] },
      }),
    };
    const api = fakeApi({
      getObject: async (key) => ({
        deployment: Deployment.fromJSON({
          metadata: {
            name: key.name,
            namespace: key.namespace,
            uid: 'd-1',
            annotations: { 'deployment.kubernetes.io/revision': '2' },
          },
        }),
      }),
      listObjects: async (request) => {
        lists.push(request);
        if (request.kind === 'Event') {
          return {
            resourceVersion: '1',
            items: [
              {
                event: Event.fromJSON({
                  type: 'Normal',
                  reason: 'ScalingReplicaSet',
                  message: 'Scaled up replica set web-2 to 3',
                  lastTimestamp: '2026-12-01T11:59:00Z',
                }),
              },
            ],
          };
        }
        return { resourceVersion: '1', items: [owned, other] };
      },
    });
    const text = await describeOne(api, info('Deployment'), 'prod', 'web', now);
    t.same(lists, [
      {
        kind: 'Event',
        namespace: 'prod',
        labelSelector: '',
        fieldSelector: 'involvedObject.kind=Deployment,involvedObject.name=web',
      },
      { kind: 'ReplicaSet', namespace: 'prod', labelSelector: '', fieldSelector: '' },
    ]);
    t.match(text, /\nNewReplicaSet: +web-2 \(3\/3 replicas created\)\n/);
    t.notMatch(text, /api-1/, "another deployment's ReplicaSet is not listed");
    t.match(text, /\n {2}Normal +ScalingReplicaSet +60s +Scaled up replica set web-2 to 3\n/);

    const history = await rolloutHistory(api, 'prod', 'web');
    t.equal(history, 'deployment.apps/web\nREVISION   CHANGE-CAUSE\n2          <none>\n');
  },
);
