// deploy ps: docker's STATUS, CREATED, COMMAND and PORTS words from pods, and which pods show.
import t from 'tap';
import {
  dockerDuration,
  dockerState,
  matchesPsFilters,
  parsePsFilter,
  psCommandColumn,
  psNames,
  psPorts,
  psStatus,
  psTable,
  psVisible,
} from '@flotilla/deploy';
import { Pod } from '@flotilla/proto';

const now = new Date('2026-12-01T12:00:00Z');
const ago = (seconds: number): string => new Date(now.getTime() - seconds * 1000).toISOString();

function pod(fields: {
  name?: string;
  created?: string;
  container?: Record<string, unknown>;
  status?: Record<string, unknown>;
  spec?: Record<string, unknown>;
  meta?: Record<string, unknown>;
}): Pod {
  const name = fields.name ?? 'web';
  return Pod.fromJSON({
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      creationTimestamp: fields.created ?? ago(60),
      ...fields.meta,
    },
    spec: {
      nodeName: 'node-1',
      containers: [{ name, image: 'examples/web', ...fields.container }],
      ...fields.spec,
    },
    status: fields.status ?? {},
  });
}

const running = (startedAgo: number, extra: Record<string, unknown> = {}) => ({
  phase: 'Running',
  containerStatuses: [{ name: 'web', state: { running: { startedAt: ago(startedAgo) } }, ...extra }],
});

t.test("docker's human durations", async (t) => {
  const cases: Array<[number, string]> = [
    [0, 'Less than a second'],
    [999, 'Less than a second'],
    [1000, '1 second'],
    [5_000, '5 seconds'],
    [59_000, '59 seconds'],
    [60_000, 'About a minute'],
    [119_000, 'About a minute'],
    [120_000, '2 minutes'],
    [59 * 60_000, '59 minutes'],
    [60 * 60_000, 'About an hour'],
    [89 * 60_000, 'About an hour'],
    [3 * 3_600_000, '3 hours'],
    [47 * 3_600_000, '47 hours'],
    [3 * 86_400_000, '3 days'],
    [15 * 86_400_000, '2 weeks'],
    [90 * 86_400_000, '3 months'],
    [800 * 86_400_000, '2 years'],
  ];
  for (const [ms, text] of cases) t.equal(dockerDuration(ms), text, `${ms} ms`);
});

t.test('STATUS in docker words', async (t) => {
  t.equal(psStatus(pod({}), now), 'Created', 'no status yet');
  t.equal(
    psStatus(
      pod({
        status: {
          phase: 'Pending',
          containerStatuses: [{ name: 'web', state: { waiting: { reason: 'ContainerCreating' } } }],
        },
      }),
      now,
    ),
    'Created',
  );
  t.equal(
    psStatus(
      pod({
        status: {
          phase: 'Pending',
          containerStatuses: [{ name: 'web', state: { waiting: { reason: 'ErrImagePull' } } }],
        },
      }),
      now,
    ),
    'Pending: ErrImagePull',
  );
  t.equal(
    psStatus(
      pod({
        status: {
          phase: 'Pending',
          conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }],
        },
      }),
      now,
    ),
    'Pending: Unschedulable',
  );
  t.equal(psStatus(pod({ status: running(5) }), now), 'Up 5 seconds');
  t.equal(psStatus(pod({ status: running(0) }), now), 'Up Less than a second');
  t.equal(psStatus(pod({ status: running(90) }), now), 'Up About a minute');
  const probe = { readinessProbe: { httpGet: { path: '/', port: '8080' } } };
  t.equal(
    psStatus(pod({ container: probe, status: running(5, { ready: true, started: true }) }), now),
    'Up 5 seconds (healthy)',
  );
  t.equal(
    psStatus(pod({ container: probe, status: running(5, { ready: false, started: true }) }), now),
    'Up 5 seconds (unhealthy)',
  );
  t.equal(
    psStatus(pod({ container: probe, status: running(5, { ready: false, started: false }) }), now),
    'Up 5 seconds (health: starting)',
  );
  t.equal(
    psStatus(
      pod({
        status: {
          phase: 'Succeeded',
          containerStatuses: [{ name: 'web', state: { terminated: { exitCode: 0, finishedAt: ago(3) } } }],
        },
      }),
      now,
    ),
    'Exited (0) 3 seconds ago',
  );
  t.equal(
    psStatus(
      pod({
        status: {
          phase: 'Failed',
          containerStatuses: [
            {
              name: 'web',
              state: { terminated: { exitCode: 137, reason: 'OOMKilled', finishedAt: ago(7200) } },
            },
          ],
        },
      }),
      now,
    ),
    'Exited (137) 2 hours ago',
  );
  t.equal(
    psStatus(
      pod({
        status: {
          phase: 'Running',
          containerStatuses: [
            {
              name: 'web',
              restartCount: 3,
              state: { waiting: { reason: 'CrashLoopBackOff' } },
              lastState: { terminated: { exitCode: 1, finishedAt: ago(2) } },
            },
          ],
        },
      }),
      now,
    ),
    'Restarting (1) 2 seconds ago',
  );
  t.equal(
    psStatus(pod({ meta: { deletionTimestamp: ago(1) }, status: running(5) }), now),
    'Removal In Progress',
  );
});

t.test('COMMAND is quoted and cut at 20 characters with an ellipsis, as docker does', async (t) => {
  t.equal(psCommandColumn(pod({ container: { args: ['sh'] } })), '"sh"');
  t.equal(
    psCommandColumn(
      pod({ container: { command: ['/bin/sh', '-c'], args: ['while true; do sleep 1; done'] } }),
    ),
    '"/bin/sh -c while tr…"',
  );
  t.equal(psCommandColumn(pod({ container: { args: ['echo', 'say "hi"'] } })), '"echo say \\"hi\\""');
  t.equal(
    psCommandColumn(pod({ container: { command: ['/bin/sh', '-c'], args: ['while true'] } }), false),
    '"/bin/sh -c while true"',
  );
  t.equal(psCommandColumn(pod({})), '""', 'the image default is not known to the pod');
  const image = { Entrypoint: ['/entry'], Cmd: ['cat', '/hello.txt'] };
  t.equal(psCommandColumn(pod({}), true, image), '"/entry cat /hello.t…"', "the image's when the CLI has it");
  t.equal(
    psCommandColumn(pod({ container: { args: ['ls'] } }), true, image),
    '"/entry ls"',
    'args replace Cmd',
  );
});

t.test('PORTS as docker prints them', async (t) => {
  t.equal(
    psPorts(
      pod({
        container: {
          ports: [
            { containerPort: 8080, hostPort: 18080, hostIP: '127.0.0.1', protocol: 'TCP' },
            { containerPort: 53, hostPort: 5353, protocol: 'UDP' },
            { containerPort: 9090 },
            { containerPort: 80, hostPort: 8000, hostIP: '::1' },
          ],
        },
      }),
    ),
    '127.0.0.1:18080->8080/tcp, 0.0.0.0:5353->53/udp, 9090/tcp, [::1]:8000->80/tcp',
  );
  t.equal(psPorts(pod({})), '');
});

t.test('the table: newest first, only running pods without -a, and -q', async (t) => {
  const pods = [
    pod({
      name: 'old',
      created: ago(3600),
      status: {
        phase: 'Succeeded',
        containerStatuses: [{ name: 'old', state: { terminated: { exitCode: 0, finishedAt: ago(3000) } } }],
      },
    }),
    pod({
      name: 'web',
      created: ago(10),
      container: {
        args: ['httpd'],
        ports: [{ containerPort: 8080, hostPort: 18080, hostIP: '127.0.0.1', protocol: 'TCP' }],
      },
      status: running(5),
    }),
    pod({ name: 'new', created: ago(1) }),
  ];
  t.equal(
    psTable(pods, { all: true, now }),
    [
      'NAME   IMAGE          COMMAND   CREATED             STATUS                      PORTS                       NODE',
      'new    examples/web   ""        1 second ago        Created                                                 node-1',
      'web    examples/web   "httpd"   10 seconds ago      Up 5 seconds                127.0.0.1:18080->8080/tcp   node-1',
      'old    examples/web   ""        About an hour ago   Exited (0) 50 minutes ago                               node-1',
      '',
    ].join('\n'),
  );
  t.equal(psTable(pods, { all: false, now }).split('\n').length, 3, 'header, web, and the final newline');
  t.match(psTable(pods, { all: false, now }), /^NAME .*\nweb +/);
  t.equal(psNames(pods, true), 'new\nweb\nold\n');
  t.equal(psNames(pods, false), 'web\n');
  t.equal(psTable([], { all: true, now }), 'NAME   IMAGE   COMMAND   CREATED   STATUS   PORTS   NODE\n');
  t.match(psTable(pods, { all: false, now, namespaces: true }), /^NAMESPACE +NAME .*\ndefault +web /);
});

t.test('which pods are running, and docker state words', async (t) => {
  const crash = pod({
    status: {
      containerStatuses: [
        {
          name: 'web',
          restartCount: 1,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
          lastState: { terminated: { exitCode: 1 } },
        },
      ],
    },
  });
  t.equal(dockerState(crash), 'restarting');
  t.ok(psVisible(crash, false), 'a restarting pod shows without -a, as in docker');
  t.equal(dockerState(pod({ status: running(1) })), 'running');
  t.equal(dockerState(pod({})), 'created');
  t.notOk(psVisible(pod({}), false));
  const stopped = pod({
    spec: { stopped: true },
    status: { containerStatuses: [{ name: 'web', state: { terminated: { exitCode: 137 } } }] },
  });
  t.equal(dockerState(stopped), 'exited');
});

t.test('--filter: parsed with what is valid, ORed per key and ANDed across keys', async (t) => {
  t.same(parsePsFilter('status=exited'), { ok: true, value: { key: 'status', value: 'exited' } });
  t.same(parsePsFilter('label=app=web'), { ok: true, value: { key: 'label', value: 'app=web' } });
  t.match(parsePsFilter('colour=red'), {
    ok: false,
    reason: /KEY=VALUE with KEY one of name, status, node, label, ancestor/,
  });
  t.match(parsePsFilter('name'), { ok: false });
  t.match(parsePsFilter('status=sleeping'), {
    ok: false,
    reason: /STATE one of created, running, restarting, exited/,
  });
  const web = pod({ name: 'web', meta: { labels: { app: 'web' } }, status: running(1) });
  const job = pod({
    name: 'job',
    status: { containerStatuses: [{ name: 'job', state: { terminated: { exitCode: 0 } } }] },
  });
  const f = (...texts: string[]) =>
    texts.map((x) => {
      const parsed = parsePsFilter(x);
      if (!parsed.ok) throw new Error(parsed.reason);
      return parsed.value;
    });
  t.ok(matchesPsFilters(web, f('name=we')));
  t.notOk(matchesPsFilters(job, f('name=we')));
  t.ok(matchesPsFilters(job, f('status=running', 'status=exited')));
  t.notOk(matchesPsFilters(job, f('status=exited', 'name=web')));
  t.ok(matchesPsFilters(web, f('label=app')));
  t.ok(matchesPsFilters(web, f('label=app=web', 'node=node-1', 'ancestor=examples/web')));
  t.notOk(matchesPsFilters(web, f('label=app=db')));
});
