// The pod manager's pure decision, table by table: what to do for a pod given what it
// should be and what the host shows. No servers, no timers.
import t from 'tap';
import {
  containerRunId,
  decidePod,
  newPodRecord,
  observeRuns,
  restartedAtAnnotation,
  stopGraceCut,
  type ContainerState,
  type ImageStatus,
  type PodAction,
  type PodObservation,
  type PodRecord,
} from '@flotilla/agent';
import { Pod } from '@flotilla/proto';

const uid = '0b9a6a52-8e2f-4d0e-9a43-4f1c2b3d4e5f';
const now = Date.parse('2026-01-01T12:00:00Z');
const present: ImageStatus = {
  state: 'present',
  digest: 'sha256:aa',
  configDigest: 'sha256:bb',
  chainIds: [],
};

function pod(spec: Record<string, unknown> = {}, meta: Record<string, unknown> = {}): Pod {
  return Pod.fromJSON({
    metadata: { name: 'web', namespace: 'default', uid, ...meta },
    spec: { containers: [{ name: 'main', image: 'busybox' }], restartPolicy: 'Always', ...spec },
  });
}

function obs(over: Partial<PodObservation>): PodObservation {
  const desired = 'desired' in over ? over.desired : pod();
  return {
    ...(desired !== undefined ? { desired } : {}),
    runs: new Map(),
    networkReady: true,
    filesReady: true,
    images: new Map([['main', present]]),
    restartRequests: new Map(),
    failures: { containers: new Map() },
    now,
    ...over,
  };
}

/** A record whose container main is at run n, ended (exit given) or running. */
function recordWith(
  run: number,
  exit?: { code: number; finishedAt?: number; ranMs?: number },
  p = pod(),
): PodRecord {
  const r = newPodRecord(p, new Date(now - 3_600_000));
  const id = containerRunId(uid, 'main', run);
  const finishedAt = exit?.finishedAt ?? now - 1_000;
  const startedAt = finishedAt - (exit?.ranMs ?? 500);
  r.containers.main = {
    name: 'main',
    restartCount: run - 1,
    backoffSteps: run - 1,
    current: {
      run,
      id,
      logPath: `/logs/${run}.log`,
      startedAt: new Date(startedAt).toISOString(),
      ...(exit !== undefined
        ? {
            termination: {
              exitCode: exit.code,
              signal: 0,
              reason: exit.code === 0 ? 'Completed' : 'Error',
              startedAt: new Date(startedAt).toISOString(),
              finishedAt: new Date(finishedAt).toISOString(),
              containerId: id,
            },
          }
        : {}),
    },
  };
  return r;
}

function running(id: string): ContainerState {
  return { status: 'running', id, pid: 42, paused: false };
}

const types = (actions: PodAction[]): string[] => actions.map((a) => a.type);

t.test('a new pod is taken on, then gets a network, its files and its container', async (t) => {
  t.same(types(decidePod(obs({})).actions), ['adopt']);
  const record = newPodRecord(pod(), new Date(now));
  const d = decidePod(obs({ record, networkReady: false, filesReady: false }));
  t.same(types(d.actions), ['create-network', 'prepare-files', 'start-container']);
  t.match(d.actions[2], { container: 'main', run: 1, backoffSteps: 0 });
  t.same(d.waiting.get('main'), { reason: 'ContainerCreating', message: '' });
  t.same(types(decidePod(obs({ record })).actions), ['start-container'], 'network and files already there');
});

t.test('image states become waiting reasons and nothing starts', async (t) => {
  const record = newPodRecord(pod(), new Date(now));
  const table: Array<[ImageStatus, string, RegExp]> = [
    [{ state: 'absent' }, 'ContainerCreating', /waiting for image busybox/],
    [{ state: 'pulling', since: '', attempt: 1 }, 'ContainerCreating', /pulling image busybox/],
    [
      { state: 'failed', reason: 'not-found', message: 'manifest unknown', attempts: 1 },
      'ErrImagePull',
      /manifest unknown \(not-found\)/,
    ],
    [
      {
        state: 'failed',
        reason: 'unauthorized',
        message: 'denied',
        attempts: 3,
        retryAt: '2026-01-01T12:01:00Z',
      },
      'ImagePullBackOff',
      /back-off pulling image busybox: denied \(unauthorized\)/,
    ],
  ];
  for (const [status, reason, message] of table) {
    const d = decidePod(obs({ record, images: new Map([['main', status]]) }));
    t.same(d.actions, [], `${status.state}: no action`);
    t.equal(d.waiting.get('main')?.reason, reason, `${status.state} → ${reason}`);
    t.match(d.waiting.get('main')?.message, message);
  }
});

t.test('a running container is left alone; a liveness failure stops it with the grace', async (t) => {
  const record = recordWith(1);
  const id = containerRunId(uid, 'main', 1);
  const runs = new Map([[id, running(id)]]);
  t.same(decidePod(obs({ record, runs })).actions, []);
  const d = decidePod(
    obs({
      record,
      runs,
      desired: pod({ terminationGracePeriodSeconds: 7 }),
      restartRequests: new Map([[id, 'liveness probe failed 3 times in a row']]),
    }),
  );
  t.same(d.actions, [
    {
      type: 'stop-container',
      container: 'main',
      id,
      graceSeconds: 7,
      reason: 'liveness probe failed 3 times in a row',
    },
  ]);
});

t.test('restart policies after an exit', async (t) => {
  const table: Array<[string, number, string[]]> = [
    ['Always', 0, ['start-container']],
    ['Always', 1, ['start-container']],
    ['OnFailure', 0, []],
    ['OnFailure', 3, ['start-container']],
    ['Never', 0, []],
    ['Never', 1, []],
  ];
  for (const [policy, code, want] of table) {
    // Run 1 ended long ago: the first restart is immediate.
    const p = pod({ restartPolicy: policy });
    const d = decidePod(obs({ desired: p, record: recordWith(1, { code, finishedAt: now - 60_000 }, p) }));
    t.same(types(d.actions), want, `${policy}, exit ${code}`);
    if (want.length > 0) t.match(d.actions[0], { run: 2, backoffSteps: 1 });
  }
});

t.test('a crash loop waits with CrashLoopBackOff and wakes when the back-off ends', async (t) => {
  // Run 3 ended a second ago after 2 back-off steps: 20 s wait.
  const d = decidePod(obs({ record: recordWith(3, { code: 2 }) }));
  t.same(d.actions, []);
  t.equal(d.waiting.get('main')?.reason, 'CrashLoopBackOff');
  t.match(
    d.waiting.get('main')?.message,
    /back-off 20s restarting failed container \(exit code 2, Error, 2 restarts\)/,
  );
  t.equal(d.wakeAtMs, now - 1_000 + 20_000);
  const later = decidePod(obs({ record: recordWith(3, { code: 2 }), now: now + 19_000 }));
  t.same(types(later.actions), ['start-container'], 'restarted once the back-off is over');
  t.match(later.actions[0], { run: 4, backoffSteps: 3 });
});

t.test('an exit seen now is recorded, then decided in the same pass', async (t) => {
  const record = recordWith(1, undefined, pod({ restartPolicy: 'Never' }));
  const id = containerRunId(uid, 'main', 1);
  const finishedAt = new Date(now - 500);
  const runs = new Map<string, ContainerState>([
    [id, { status: 'exited', id, reason: 'OOMKilled', exitCode: 137, finishedAt, oomKilled: true }],
  ]);
  const d = decidePod(obs({ desired: pod({ restartPolicy: 'Never' }), record, runs }));
  t.same(types(d.actions), ['record-exits']);
  const recorded = (d.actions[0] as Extract<PodAction, { type: 'record-exits' }>).record;
  t.match(recorded.containers.main?.current?.termination, {
    exitCode: 137,
    signal: 9,
    reason: 'OOMKilled',
    finishedAt: finishedAt.toISOString(),
    containerId: id,
  });
});

t.test('a run neither runc nor conmon knows ended with 137, ContainerStatusUnknown', async (t) => {
  const record = recordWith(1);
  const next = observeRuns(record, new Map(), now);
  t.match(next?.containers.main?.current?.termination, { exitCode: 137, reason: 'ContainerStatusUnknown' });
  t.equal(
    observeRuns(recordWith(1, { code: 0 }), new Map(), now),
    undefined,
    'an ended run stays as it ended',
  );
  const id = containerRunId(uid, 'main', 1);
  const stopped = new Map<string, ContainerState>([[id, { status: 'unknown', id, reason: 'stopped' }]]);
  t.equal(observeRuns(record, stopped, now), undefined, 'stopped without an exit file yet: not decided');
  const d = decidePod(obs({ record, runs: stopped }));
  t.same(d.actions, []);
  t.ok(d.wakeAtMs !== undefined && d.wakeAtMs > now, 'looks again shortly');
});

t.test('restartedAt: a new value runs terminated containers again, even under Never', async (t) => {
  const p = pod(
    { restartPolicy: 'Never' },
    { annotations: { [restartedAtAnnotation]: '2026-01-01T11:59:00Z' } },
  );
  const record = recordWith(1, { code: 0 }, pod({ restartPolicy: 'Never' }));
  const d = decidePod(obs({ desired: p, record }));
  t.same(types(d.actions), ['start-container', 'honour-restart']);
  t.match(d.actions[0], { run: 2, backoffSteps: 0 });
  t.same(d.actions[1], { type: 'honour-restart', value: '2026-01-01T11:59:00Z' });
  const honoured = { ...record, restartedAt: '2026-01-01T11:59:00Z' };
  t.same(decidePod(obs({ desired: p, record: honoured })).actions, [], 'once honoured, nothing');
});

t.test(
  'deploy start after stop: a lost network is made first; a failed start stays asked and shows',
  async (t) => {
    const value = '2026-01-01T11:59:30Z';
    const p = pod({ restartPolicy: 'Never' }, { annotations: { [restartedAtAnnotation]: value } });
    const stoppedRun = recordWith(1, { code: 137 }, p);
    stoppedRun.containers.main!.current!.stopReason = 'Stopped';
    stoppedRun.restartedAt = ''; // it was stopped before deploy start set the annotation
    // The netns went away while stopped (a reboot empties /run): made again before the start.
    const d = decidePod(obs({ desired: p, record: stoppedRun, networkReady: false }));
    t.same(types(d.actions), ['create-network', 'start-container', 'honour-restart']);
    t.match(d.actions[1], { container: 'main', run: 2 });
    // The start failed (runc create): the restart is not honoured, the failure is the state.
    const failure = {
      reason: 'CreateContainerError',
      message: 'namespace path: lstat /run/netns/flt-0b9a6a528e2f: no such file or directory',
      attempts: 1,
      retryAtMs: now + 10_000,
    };
    const failed = decidePod(
      obs({ desired: p, record: stoppedRun, failures: { containers: new Map([['main', failure]]) } }),
    );
    t.same(failed.actions, [], 'nothing now, and the restart stays asked');
    t.same(failed.waiting.get('main'), { reason: failure.reason, message: failure.message });
    t.equal(failed.wakeAtMs, now + 10_000, 'retried when due');
    const due = decidePod(
      obs({
        desired: p,
        record: stoppedRun,
        now: now + 10_000,
        failures: { containers: new Map([['main', failure]]) },
      }),
    );
    t.same(types(due.actions), ['start-container', 'honour-restart'], 'the retry is still a restart');
    // An image still pulling holds the restart too.
    const pulling = decidePod(
      obs({
        desired: p,
        record: stoppedRun,
        images: new Map([['main', { state: 'pulling', since: '', attempt: 1 }]]),
      }),
    );
    t.same(pulling.actions, []);
    t.equal(pulling.waiting.get('main')?.reason, 'ContainerCreating');
  },
);

t.test('stopped: running containers are stopped with the grace and not restarted', async (t) => {
  const p = pod({ stopped: true, terminationGracePeriodSeconds: 5 });
  const id = containerRunId(uid, 'main', 1);
  const d = decidePod(
    obs({ desired: p, record: recordWith(1, undefined, p), runs: new Map([[id, running(id)]]) }),
  );
  t.same(d.actions, [{ type: 'stop-container', container: 'main', id, graceSeconds: 5, reason: 'Stopped' }]);
  const ended = recordWith(1, { code: 143 }, p);
  t.same(decidePod(obs({ desired: p, record: ended })).actions, [], 'ended: stays so');
  // Unstopped without a new restartedAt: a run the agent stopped stays stopped.
  const stoppedRun = recordWith(1, { code: 143 }, p);
  stoppedRun.containers.main!.current!.stopReason = 'Stopped';
  t.same(decidePod(obs({ desired: pod(), record: stoppedRun })).actions, []);
});

t.test('deletion, absence and a new uid tear the pod down with the right grace', async (t) => {
  const deleting = pod({}, { deletionTimestamp: '2026-01-01T12:00:00Z', deletionGracePeriodSeconds: 3 });
  t.match(decidePod(obs({ desired: deleting, record: recordWith(1) })).actions, [
    { type: 'teardown', uid, graceSeconds: 3 },
  ]);
  t.match(
    decidePod(obs({ desired: deleting })).actions,
    [{ type: 'teardown', uid }],
    'even never taken on: removed is reported',
  );
  const record = { ...recordWith(1), graceSeconds: 12 };
  t.match(decidePod(obs({ desired: undefined, record })).actions, [
    { type: 'teardown', uid, graceSeconds: 12 },
  ]);
  t.same(decidePod(obs({ desired: undefined })).actions, [], 'nothing held, nothing to do');
  const other = pod({}, { uid: '11111111-2222-3333-4444-555555555555' });
  t.match(
    decidePod(obs({ desired: other, record })).actions,
    [{ type: 'teardown', uid }],
    'the old uid goes first',
  );
});

t.test('a shorter deletion grace cuts a stop under way short, never lengthens it', async (t) => {
  const stopped = pod({ stopped: true, terminationGracePeriodSeconds: 600 });
  const record = recordWith(1, undefined, stopped);
  const forced = pod(
    { stopped: true, terminationGracePeriodSeconds: 600 },
    { deletionTimestamp: '2026-01-01T12:00:00Z', deletionGracePeriodSeconds: 0 },
  );
  const slow = pod({}, { deletionTimestamp: '2026-01-01T12:00:00Z', deletionGracePeriodSeconds: 900 });
  const other = pod({}, { uid: '11111111-2222-3333-4444-555555555555' });
  const cases: [string, Pod | undefined, number | undefined, number | undefined][] = [
    ['deploy stop alone cuts nothing', stopped, undefined, undefined],
    ['rm -f (force, grace 0) cuts to 0', forced, undefined, 0],
    ['DELETED after rm -f keeps the 0 it asked', undefined, 0, 0],
    ['DELETED with no deletion seen: the record grace', undefined, undefined, 600],
    ['a longer deletion grace does not lengthen an earlier cut', slow, 0, 0],
    ['a deletion with a longer grace than the stop: its own grace', slow, undefined, 900],
    ['a new uid under the name: the old record grace', other, undefined, 600],
    ['not deleted: an earlier cut stays', stopped, 5, 5],
  ];
  for (const [name, desired, previous, want] of cases)
    t.equal(stopGraceCut(desired, record, previous), want, name);
  t.equal(stopGraceCut(forced, undefined, undefined), undefined, 'nothing held: nothing to cut');

  const id = containerRunId(uid, 'main', 1);
  const runs = new Map([[id, running(id)]]);
  t.same(
    decidePod(obs({ desired: stopped, record, runs, graceCutSeconds: 0 })).actions,
    [{ type: 'stop-container', container: 'main', id, graceSeconds: 0, reason: 'Stopped' }],
    'a stop decided after the cut gets the cut grace',
  );
  t.match(
    decidePod(obs({ desired: undefined, record, runs, graceCutSeconds: 0 })).actions,
    [{ type: 'teardown', uid, graceSeconds: 0 }],
    'DELETED after rm -f: torn down with 0, not the record grace of 600',
  );
  t.match(
    decidePod(obs({ desired: undefined, record, runs, graceCutSeconds: 900 })).actions,
    [{ type: 'teardown', uid, graceSeconds: 600 }],
    'a cut never lengthens',
  );
});

t.test('start failures wait for their retry with their reason', async (t) => {
  const record = newPodRecord(pod(), new Date(now));
  const failure = {
    reason: 'CreateContainerError',
    message: 'exec: "nosuch": not found',
    attempts: 1,
    retryAtMs: now + 10_000,
  };
  const d = decidePod(obs({ record, failures: { containers: new Map([['main', failure]]) } }));
  t.same(d.actions, []);
  t.same(d.waiting.get('main'), { reason: 'CreateContainerError', message: 'exec: "nosuch": not found' });
  t.equal(d.wakeAtMs, now + 10_000);
  const due = decidePod(
    obs({ record, now: now + 10_000, failures: { containers: new Map([['main', failure]]) } }),
  );
  t.same(types(due.actions), ['start-container'], 'retried when due');
  const net = {
    reason: 'CreateContainerError',
    message: 'host port 8080/TCP on 0.0.0.0 is already in use',
    attempts: 2,
    retryAtMs: now + 1,
  };
  const n = decidePod(
    obs({ record, networkReady: false, failures: { network: net, containers: new Map() } }),
  );
  t.same(n.actions, []);
  t.match(n.waiting.get('main')?.message, /already in use/);
});

t.test('a run created but never started (agent died in between) is made again', async (t) => {
  const record = recordWith(2);
  const id = containerRunId(uid, 'main', 2);
  const d = decidePod(obs({ record, runs: new Map([[id, { status: 'created', id, pid: 9 }]]) }));
  t.match(d.actions, [{ type: 'start-container', run: 2 }]);
});

t.test('container run IDs are deterministic, distinct and valid for runc', async (t) => {
  t.equal(containerRunId(uid, 'main', 1), '0b9a6a528e2f4d0e-main-1');
  t.not(containerRunId(uid, 'main', 1), containerRunId(uid, 'main', 2));
  const long = containerRunId(uid, 'a-very-long-container-name-of-the-web-tier', 12);
  const long2 = containerRunId(uid, 'a-very-long-container-name-of-the-web-tierX', 12);
  t.not(long, long2, 'cut names stay distinct');
  for (const id of [long, long2]) t.match(id, /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);
  t.ok(long.length <= 48, 'short enough for the attach socket path');
});
