// cluster.json: reading the supervisor's record, and what `up`, `down` and `status` make
// of it. Files only under a tap test directory; no process is looked at.
import t from 'tap';
import {
  type ClusterState,
  type ComponentRecord,
  clearedState,
  isStateOf,
  localProblems,
  newlyUp,
  parseClusterState,
  readClusterState,
  startProgress,
  tail,
} from '@flotilla/deploy';

function makeComponent(overrides: Partial<ComponentRecord> & { name: string }): ComponentRecord {
  return {
    pid: 100,
    address: '',
    log: `/d/logs/${overrides.name}.log`,
    state: 'running',
    restarts: 0,
    command: [`/bin/${overrides.name}`],
    message: '',
    ...overrides,
  };
}

function makeState(overrides: Partial<ClusterState> = {}): ClusterState {
  return {
    supervisorPid: 42,
    dataDir: '/d',
    startedAt: '2026-03-01T11:00:00.000Z',
    phase: 'running',
    message: '',
    failedComponent: '',
    ports: { etcd: 23790, etcdPeer: 23800, nats: 14222, registry: 5000, api: 7443 },
    components: [
      makeComponent({ name: 'etcd', pid: 101, address: 'http://127.0.0.1:23790' }),
      makeComponent({ name: 'controller-init', pid: null, state: 'completed' }),
      makeComponent({ name: 'controller', pid: 103, address: '127.0.0.1:7443' }),
    ],
    ...overrides,
  };
}

t.test('readClusterState reads what the supervisor wrote', async (t) => {
  const state = makeState();
  const dir = t.testdir({ 'cluster.json': JSON.stringify(state, null, 2) + '\n' });
  t.same(await readClusterState(`${dir}/cluster.json`), state);
});

t.test('readClusterState is undefined where no cluster was ever started', async (t) => {
  const dir = t.testdir({});
  t.equal(await readClusterState(`${dir}/cluster.json`), undefined);
  t.equal(await readClusterState(`${dir}/no-such-dir/cluster.json`), undefined);
});

t.test('readClusterState fails on a file it cannot use, naming it', async (t) => {
  const dir = t.testdir({
    'garbled.json': '{"phase": "run',
    'other.json': '{"hello": "world"}',
    'cluster.json': {},
  });
  await t.rejects(readClusterState(`${dir}/garbled.json`), {
    message: `${dir}/garbled.json is not valid JSON`,
  });
  await t.rejects(readClusterState(`${dir}/other.json`), {
    message: `${dir}/other.json is not a Flotilla local cluster state file`,
  });
  await t.rejects(
    readClusterState(`${dir}/cluster.json`),
    { code: 'EISDIR' },
    'a directory is not read as absent',
  );
});

t.test('parseClusterState refuses documents that are not a cluster state', async (t) => {
  const cases = [
    '{}',
    '[]',
    'null',
    '"running"',
    '{"phase": "exploded", "components": []}',
    '{"phase": "running"}',
    '{"phase": "running", "components": {}}',
  ];
  for (const text of cases) {
    t.throws(
      () => parseClusterState(text, 'cluster.json'),
      { message: /^cluster\.json is not a Flotilla local cluster state file$/ },
      text,
    );
  }
});

t.test('parseClusterState fills in what an older or damaged file lacks', async (t) => {
  const state = parseClusterState(
    JSON.stringify({
      supervisorPid: 0,
      phase: 'stopped',
      ports: { etcd: 1, nats: '2' },
      components: [
        { name: 'etcd', pid: -5, state: 'dancing', restarts: 'many', command: ['etcd', 7, '--x'] },
        { pid: 9 },
        'junk',
      ],
    }),
    'cluster.json',
  );
  t.same(state, {
    supervisorPid: null,
    dataDir: '',
    startedAt: '',
    phase: 'stopped',
    message: '',
    failedComponent: '',
    ports: { etcd: 1, etcdPeer: 0, nats: 0, registry: 0, api: 0 },
    components: [
      {
        name: 'etcd',
        pid: null,
        address: '',
        log: '',
        state: 'pending',
        restarts: 0,
        command: ['etcd', '--x'],
        message: '',
      },
    ],
  });
});

t.test('clearedState records that nothing runs any more', async (t) => {
  const state = makeState({
    components: [
      makeComponent({ name: 'etcd', pid: 101, state: 'running' }),
      makeComponent({ name: 'controller-init', pid: null, state: 'completed' }),
      makeComponent({ name: 'nats-server', pid: 102, state: 'restarting' }),
      makeComponent({ name: 'registry', pid: null, state: 'pending' }),
    ],
  });
  const cleared = clearedState(state);
  t.equal(cleared.supervisorPid, null);
  t.equal(cleared.phase, 'stopped');
  t.equal(cleared.message, 'stopped');
  t.same(
    cleared.components.map((c) => [c.name, c.pid, c.state]),
    [
      ['etcd', null, 'stopped'],
      ['controller-init', null, 'completed'],
      ['nats-server', null, 'stopped'],
      ['registry', null, 'pending'],
    ],
  );
  t.equal(state.supervisorPid, 42, 'the state it was given is left alone');
});

t.test('clearedState keeps a failed start failed, with its message', async (t) => {
  const state = makeState({
    phase: 'failed',
    message: 'etcd did not become ready',
    components: [makeComponent({ name: 'etcd', state: 'failed', pid: 101 })],
  });
  const cleared = clearedState(state);
  t.equal(cleared.phase, 'failed');
  t.equal(cleared.message, 'etcd did not become ready');
  t.equal(cleared.components[0]?.state, 'failed');
});

t.test('startProgress decides what `deploy up` is waiting for, or that it failed', async (t) => {
  const log = '/d/logs/supervisor.log';
  const cases: Array<{ name: string; state: ClusterState | undefined; alive: boolean; expected: unknown }> = [
    {
      name: 'no state yet',
      state: undefined,
      alive: true,
      expected: { kind: 'waiting', waitingFor: 'the supervisor to start', component: 'supervisor' },
    },
    {
      name: 'a component starting',
      state: makeState({
        phase: 'starting',
        components: [
          makeComponent({ name: 'etcd', state: 'running' }),
          makeComponent({ name: 'nats-server', state: 'starting' }),
          makeComponent({ name: 'agent', state: 'pending' }),
        ],
      }),
      alive: true,
      expected: { kind: 'waiting', waitingFor: 'nats-server to be ready', component: 'nats-server' },
    },
    {
      name: 'starting with nothing left to start',
      state: makeState({ phase: 'starting' }),
      alive: true,
      expected: {
        kind: 'waiting',
        waitingFor: 'the cluster to be running (it is starting)',
        component: 'supervisor',
      },
    },
    {
      name: 'failed, blaming a component',
      state: makeState({ phase: 'failed', message: 'etcd exited with code 1', failedComponent: 'etcd' }),
      alive: false,
      expected: { kind: 'failed', message: 'etcd exited with code 1', component: 'etcd' },
    },
    {
      name: 'failed without a component',
      state: makeState({ phase: 'failed', message: 'cannot lock', failedComponent: '' }),
      alive: true,
      expected: { kind: 'failed', message: 'cannot lock', component: 'supervisor' },
    },
    {
      name: 'the supervisor vanished',
      state: makeState({ phase: 'starting' }),
      alive: false,
      expected: {
        kind: 'failed',
        message: 'the supervisor exited unexpectedly; see /d/logs/supervisor.log',
        component: 'supervisor',
      },
    },
    {
      name: 'the supervisor vanished before writing anything',
      state: undefined,
      alive: false,
      expected: {
        kind: 'failed',
        message: 'the supervisor exited unexpectedly; see /d/logs/supervisor.log',
        component: 'supervisor',
      },
    },
  ];
  for (const c of cases) t.same(startProgress(c.state, c.alive, log), c.expected, c.name);
  const running = makeState();
  t.same(startProgress(running, true, log), { kind: 'running', state: running }, 'running');
});

t.test('isStateOf tells our supervisor’s state from an older one', async (t) => {
  const startedAtMs = Date.parse('2026-03-01T11:00:00.000Z');
  const cases: Array<[string, Partial<ClusterState>, boolean]> = [
    ['written by our supervisor', { supervisorPid: 42 }, true],
    ['written by another supervisor', { supervisorPid: 41 }, false],
    [
      'cleared by our supervisor on its way out',
      { supervisorPid: null, startedAt: '2026-03-01T11:00:00.500Z' },
      true,
    ],
    [
      'cleared, started just before we looked',
      { supervisorPid: null, startedAt: '2026-03-01T10:59:59.000Z' },
      true,
    ],
    [
      'cleared by an earlier supervisor',
      { supervisorPid: null, startedAt: '2026-03-01T10:59:58.999Z' },
      false,
    ],
    ['cleared, without a start time', { supervisorPid: null, startedAt: '' }, false],
  ];
  for (const [name, overrides, expected] of cases)
    t.equal(isStateOf(makeState(overrides), 42, startedAtMs), expected, name);
});

t.test('newlyUp reports each component once, when it runs or has completed', async (t) => {
  const state = makeState({
    components: [
      makeComponent({ name: 'etcd', state: 'running' }),
      makeComponent({ name: 'controller-init', state: 'completed' }),
      makeComponent({ name: 'nats-server', state: 'starting' }),
      makeComponent({ name: 'registry', state: 'restarting' }),
    ],
  });
  t.same(
    newlyUp(state, new Set()).map((c) => c.name),
    ['etcd', 'controller-init'],
  );
  t.same(
    newlyUp(state, new Set(['etcd'])).map((c) => c.name),
    ['controller-init'],
  );
  t.same(newlyUp(undefined, new Set()), []);
});

t.test('localProblems lists what is wrong with a local cluster', async (t) => {
  const all = new Set(['etcd', 'controller']);
  const cases: Array<{
    name: string;
    state: ClusterState;
    supervisor: boolean;
    alive: Set<string>;
    problems: string[];
  }> = [
    { name: 'healthy', state: makeState(), supervisor: true, alive: all, problems: [] },
    {
      name: 'stopped on purpose',
      state: makeState({ phase: 'stopped' }),
      supervisor: false,
      alive: new Set(),
      problems: [],
    },
    {
      name: 'the supervisor died',
      state: makeState(),
      supervisor: false,
      alive: all,
      problems: ['the supervisor (pid 42) is not running'],
    },
    {
      name: 'a component died',
      state: makeState(),
      supervisor: true,
      alive: new Set(['etcd']),
      problems: ['controller (pid 103) is not running'],
    },
    {
      name: 'a component restarting',
      state: makeState({
        components: [makeComponent({ name: 'etcd', state: 'restarting', message: 'exited with code 2' })],
      }),
      supervisor: true,
      alive: new Set(),
      problems: ['etcd is restarting: exited with code 2'],
    },
    {
      name: 'still starting',
      state: makeState({ phase: 'starting', components: [] }),
      supervisor: true,
      alive: new Set(),
      problems: ['the local cluster is starting'],
    },
    {
      name: 'failed to start: the reason, not every component',
      state: makeState({
        phase: 'failed',
        message: 'etcd exited',
        components: [makeComponent({ name: 'etcd', state: 'failed' })],
      }),
      supervisor: false,
      alive: new Set(),
      problems: ['the local cluster failed to start: etcd exited'],
    },
  ];
  for (const c of cases) t.same(localProblems(c.state, c.supervisor, c.alive), c.problems, c.name);
});

t.test('tail shows the last lines of a log since the component last started', async (t) => {
  const marker = (at: string): string => `--- ${at} flotilla supervisor: starting etcd`;
  const log = [
    marker('2026-03-01T10:00:00Z'),
    'old run',
    'old failure',
    marker('2026-03-01T11:00:00Z'),
    'new 1',
    'new 2',
    '',
    '',
  ].join('\n');
  t.equal(tail(log, 10), [marker('2026-03-01T11:00:00Z'), 'new 1', 'new 2'].join('\n'));
  t.equal(tail(log, 2), 'new 1\nnew 2', 'at most that many lines');
  const firstRun = [marker('2026-03-01T10:00:00Z'), 'only run'].join('\n');
  t.equal(tail(firstRun, 10), firstRun, 'a log with one start');
  t.equal(
    tail('a\nb\nc\n\n', 2),
    'b\nc',
    'a log without markers: its last lines, trailing blank lines dropped',
  );
});
