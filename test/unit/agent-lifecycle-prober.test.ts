import t from 'tap';
import {
  applyContainerProbeResult,
  applyProbeResult,
  initialContainerProbeStatus,
  initialProbeState,
  probeShouldRun,
  type ContainerProbeStatus,
  type ProbeKind,
  type ProbeOutcome,
  type ProbeSignal,
  probeExec,
  type ContainerExec,
} from '@flotilla/agent';

// A fake clock: results are stamped by the test, nothing waits.
let clock = 0;
const result = (outcome: ProbeOutcome) => ({
  outcome,
  at: (clock += 1000),
  message: `probe said ${outcome}`,
});

t.test('a probe state flips only after the thresholds', async (t) => {
  const th = { successThreshold: 2, failureThreshold: 3 };
  const seq: Array<[ProbeOutcome, string, number, number]> = [
    ['success', 'unknown', 1, 0],
    ['success', 'success', 2, 0],
    ['failure', 'success', 0, 1],
    ['timeout', 'success', 0, 2],
    ['success', 'success', 1, 0],
    ['failure', 'success', 0, 1],
    ['failure', 'success', 0, 2],
    ['timeout', 'failure', 0, 3],
    ['failure', 'failure', 0, 4],
    ['success', 'failure', 1, 0],
    ['success', 'success', 2, 0],
  ];
  let state = initialProbeState;
  seq.forEach(([outcome, expected, s, f], i) => {
    state = applyProbeResult(state, th, result(outcome));
    t.equal(state.state, expected, `step ${i} (${outcome})`);
    t.equal(state.consecutiveSuccesses, s, `step ${i} successes`);
    t.equal(state.consecutiveFailures, f, `step ${i} failures`);
  });
  t.equal(state.lastResult?.outcome, 'success');
});

function feed(
  status: ContainerProbeStatus,
  kind: ProbeKind,
  outcomes: ProbeOutcome[],
  th = { successThreshold: 1, failureThreshold: 3 },
): { status: ContainerProbeStatus; signals: ProbeSignal[]; ignored: number } {
  const signals: ProbeSignal[] = [];
  let ignored = 0;
  for (const o of outcomes) {
    const tr = applyContainerProbeResult(status, kind, th, result(o));
    status = tr.status;
    signals.push(...tr.signals);
    if (tr.ignored) ignored++;
  }
  return { status, signals, ignored };
}

t.test('liveness: restart once after failureThreshold consecutive failures', async (t) => {
  let s = initialContainerProbeStatus(['liveness']);
  t.equal(s.ready, true, 'no readiness probe: ready once running');
  let r = feed(s, 'liveness', ['success', 'failure', 'failure', 'success', 'failure', 'failure']);
  t.same(r.signals, [], 'failures interrupted by a success do not add up');
  s = r.status;
  r = feed(s, 'liveness', ['failure']);
  t.equal(r.signals.length, 1);
  t.match(r.signals[0], {
    type: 'restart',
    kind: 'liveness',
    message: /liveness probe failed 3 times in a row: probe said failure/,
  });
  r = feed(r.status, 'liveness', ['failure', 'timeout']);
  t.same(r.signals, [], 'no second restart for the same failure');
});

t.test('readiness: not ready until success, follows the thresholds', async (t) => {
  const th = { successThreshold: 2, failureThreshold: 2 };
  let s = initialContainerProbeStatus(['readiness']);
  t.equal(s.ready, false, 'not ready before the first success');
  let r = feed(s, 'readiness', ['success'], th);
  t.equal(r.status.ready, false, 'one success of two');
  r = feed(r.status, 'readiness', ['success'], th);
  t.equal(r.status.ready, true);
  t.same(r.signals, [{ type: 'ready', ready: true }]);
  r = feed(r.status, 'readiness', ['failure'], th);
  t.equal(r.status.ready, true, 'one failure of two');
  r = feed(r.status, 'readiness', ['timeout', 'failure'], th);
  t.equal(r.status.ready, false);
  t.same(r.signals, [{ type: 'ready', ready: false }], 'one signal per change');
  s = r.status;
  t.equal(s.probes.readiness?.state, 'failure');
});

t.test('startup gates liveness and readiness; its failure restarts', async (t) => {
  let s = initialContainerProbeStatus(['startup', 'liveness', 'readiness']);
  t.equal(s.started, false);
  t.equal(s.ready, false);
  t.equal(probeShouldRun(s, 'liveness'), false);
  t.equal(probeShouldRun(s, 'readiness'), false);
  t.equal(probeShouldRun(s, 'startup'), true);

  let r = feed(s, 'liveness', ['failure', 'failure', 'failure', 'failure']);
  t.equal(r.ignored, 4, 'liveness results before startup are dropped');
  t.same(r.signals, []);
  r = feed(r.status, 'readiness', ['success']);
  t.equal(r.ignored, 1);
  t.equal(r.status.ready, false);

  r = feed(r.status, 'startup', ['failure', 'success']);
  t.same(r.signals, [{ type: 'started' }], 'readiness probe present: started does not mean ready');
  s = r.status;
  t.equal(s.started, true);
  t.equal(s.ready, false);
  t.equal(probeShouldRun(s, 'startup'), false, 'startup stops after success');
  t.equal(probeShouldRun(s, 'liveness'), true);
  r = feed(s, 'readiness', ['success']);
  t.same(r.signals, [{ type: 'ready', ready: true }]);

  const failing = feed(
    initialContainerProbeStatus(['startup']),
    'startup',
    ['failure', 'timeout', 'failure'],
    {
      successThreshold: 1,
      failureThreshold: 3,
    },
  );
  t.match(failing.signals, [{ type: 'restart', kind: 'startup' }]);
  t.equal(failing.status.started, false);

  const noReadiness = feed(initialContainerProbeStatus(['startup']), 'startup', ['success']);
  t.same(noReadiness.signals, [{ type: 'started' }, { type: 'ready', ready: true }]);
  t.equal(
    feed(initialContainerProbeStatus([]), 'liveness', ['failure']).ignored,
    1,
    'unconfigured kind ignored',
  );
});

t.test(
  'exec probes: exit 0 succeeds, anything else fails with the output, a timeout is a timeout',
  async (t) => {
    const action = { type: 'exec' as const, command: ['cat', '/tmp/healthy'] };
    const calls: Array<{ command: readonly string[]; timeoutMs: number }> = [];
    const exec =
      (reply: { exitCode: number; output: string; timedOut?: boolean } | Error): ContainerExec =>
      async (command, options) => {
        calls.push({ command, timeoutMs: options.timeoutMs });
        if (reply instanceof Error) throw reply;
        return reply;
      };
    t.same(await probeExec(action, exec({ exitCode: 0, output: 'ok' }), 1000), { outcome: 'success' });
    t.same(calls[0], { command: ['cat', '/tmp/healthy'], timeoutMs: 1000 });
    t.match(
      await probeExec(action, exec({ exitCode: 1, output: 'cat: /tmp/healthy: No such file\n' }), 1000),
      {
        outcome: 'failure',
        message: /exit code 1: cat: \/tmp\/healthy: No such file$/,
      },
    );
    t.match(await probeExec(action, exec({ exitCode: -1, output: '', timedOut: true }), 1000), {
      outcome: 'timeout',
      message: /still running after 1000 ms/,
    });
    t.match(await probeExec(action, exec(new Error('container not running')), 1000), {
      outcome: 'failure',
      message: /container not running/,
    });
    t.match(await probeExec(action, undefined, 1000), {
      outcome: 'failure',
      message: /no way to run commands/,
    });
  },
);
