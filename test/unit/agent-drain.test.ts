// Leaving the endpoints before SIGTERM: which stops wait and how long (pure), one drain
// wait against a fake controller (answers, never answers, Unavailable, a cut), and the
// --endpoint-drain-timeout flag.
import t from 'tap';
import { unavailable } from '@flotilla/common';
import {
  EndpointsDrain,
  decideDrain,
  defaultEndpointDrainTimeoutMs,
  drainCallSlackMs,
  graceAfterDrain,
  parseAgentArgs,
  type DrainAnswer,
  type DrainInput,
  type DrainRequest,
  type EndpointsDrainer,
} from '@flotilla/agent';

const base: DrainInput = {
  leaving: true,
  podIP: '10.244.1.5',
  running: true,
  graceSeconds: 30,
  drainTimeoutMs: defaultEndpointDrainTimeoutMs,
  drainer: true,
};

t.test('decideDrain: only a running pod with an IP leaving the node waits, min(grace, flag)', async (t) => {
  const cases: Array<[string, Partial<DrainInput>, ReturnType<typeof decideDrain>]> = [
    ['deleted, grace 30 s, flag 10 s', {}, { wait: true, timeoutMs: 10_000 }],
    ['grace shorter than the flag', { graceSeconds: 3 }, { wait: true, timeoutMs: 3_000 }],
    ['a fractional grace', { graceSeconds: 1.5 }, { wait: true, timeoutMs: 1_500 }],
    ['flag shorter than the grace', { drainTimeoutMs: 2_500 }, { wait: true, timeoutMs: 2_500 }],
    [
      'never past the controller cap',
      { drainTimeoutMs: 60_000, graceSeconds: 600 },
      { wait: true, timeoutMs: 30_000 },
    ],
    [
      'a restart or deploy stop (the pod stays)',
      { leaving: false },
      { wait: false, why: 'the pod stays on this node' },
    ],
    ['no pod IP', { podIP: '' }, { wait: false, why: 'the pod has no IP' }],
    ['no pod network at all', { podIP: undefined }, { wait: false, why: 'the pod has no IP' }],
    ['nothing runs any more', { running: false }, { wait: false, why: 'no container of the pod runs' }],
    ['rm -f (grace 0)', { graceSeconds: 0 }, { wait: false, why: 'no grace to wait in' }],
    [
      '--endpoint-drain-timeout 0s',
      { drainTimeoutMs: 0 },
      { wait: false, why: 'the drain wait is turned off' },
    ],
    ['no controller client', { drainer: false }, { wait: false, why: 'no controller to ask' }],
  ];
  for (const [what, input, want] of cases) t.same(decideDrain({ ...base, ...input }), want, what);
});

t.test('graceAfterDrain: the wait is part of the grace', async (t) => {
  t.equal(graceAfterDrain(30, 2_000), 28);
  t.equal(graceAfterDrain(5, 7_000), 0);
  t.equal(graceAfterDrain(10, 0), 10);
});

const pod = { namespace: 'default', name: 'web-1', uid: 'u-1' };
const drainedAnswer: DrainAnswer = {
  drained: true,
  endpointsRevision: 17,
  pendingNodes: [],
  pendingServices: [],
};

function fakeDrainer(
  answer: (req: DrainRequest, signal: AbortSignal) => Promise<DrainAnswer>,
): EndpointsDrainer & {
  calls: DrainRequest[];
} {
  const calls: DrainRequest[] = [];
  return {
    calls,
    awaitEndpointsDrained: (req, signal) => {
      calls.push(req);
      return answer(req, signal);
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What the teardown does: the drain wait, then SIGTERM with the grace left. */
async function stopWithDrain(
  drainer: EndpointsDrainer,
  timeoutMs: number,
  graceSeconds: number,
  events: string[],
  during?: (drain: EndpointsDrain) => void,
): Promise<{ grace: number; outcome: Awaited<ReturnType<EndpointsDrain['run']>> }> {
  const drain = new EndpointsDrain(pod.uid, timeoutMs);
  during?.(drain);
  const outcome = await drain.run(drainer, pod);
  const grace = drain.graceLeft(graceSeconds);
  events.push(`SIGTERM grace=${grace.toFixed(1)}`);
  return { grace, outcome };
}

t.test('the stop waits for the drain answer before SIGTERM', async (t) => {
  const events: string[] = [];
  const drainer = fakeDrainer(async () => {
    events.push('asked');
    await sleep(300);
    events.push('drained');
    return drainedAnswer;
  });
  const { outcome, grace } = await stopWithDrain(drainer, 5_000, 30, events);
  t.same(events.slice(0, 2), ['asked', 'drained']);
  t.match(events[2], /^SIGTERM/, 'SIGTERM only after the answer');
  t.equal(outcome.kind, 'drained');
  t.ok(outcome.waitedMs >= 250, `waited for the answer (${outcome.waitedMs} ms)`);
  t.ok(grace < 30 && grace > 29, `grace left ${grace}`);
  t.same(drainer.calls, [{ ...pod, timeoutMs: 5_000 }], 'one call, with the wait asked of the controller');
});

t.test('the stop goes on after the timeout when the controller does not answer', async (t) => {
  const events: string[] = [];
  let aborted = false;
  const drainer = fakeDrainer(
    (_req, signal) =>
      // Never answers; the call's signal is aborted when the wait runs out.
      new Promise(() => signal.addEventListener('abort', () => (aborted = true))),
  );
  const t0 = Date.now();
  const { outcome } = await stopWithDrain(drainer, 200, 30, events);
  const took = Date.now() - t0;
  t.equal(outcome.kind, 'failed');
  t.ok(took >= 200 + drainCallSlackMs - 20, `not before the wait ran out (${took} ms)`);
  t.ok(aborted, 'the call is cancelled');
  t.match(events, [/^SIGTERM/]);
});

t.test('the controller says not drained: logged with what is pending, the stop goes on', async (t) => {
  const drainer = fakeDrainer(async (req) => {
    await sleep(req.timeoutMs);
    return {
      drained: false,
      endpointsRevision: 9,
      pendingNodes: ['node-b'],
      pendingServices: ['default/web'],
    };
  });
  const { outcome } = await stopWithDrain(drainer, 100, 30, []);
  t.match(outcome, {
    kind: 'not-drained',
    answer: { pendingNodes: ['node-b'], pendingServices: ['default/web'] },
  });
});

t.test(
  'Unavailable (a controller without the answer) costs nothing noticeable and is not retried',
  async (t) => {
    const drainer = fakeDrainer(() => Promise.reject(unavailable('AwaitEndpointsDrained is not served yet')));
    const t0 = Date.now();
    const { outcome, grace } = await stopWithDrain(drainer, 10_000, 30, []);
    t.ok(Date.now() - t0 < 10_000, 'did not wait out the drain timeout');
    t.match(outcome, { kind: 'failed', error: /not served/ });
    t.equal(drainer.calls.length, 1);
    t.ok(grace > 29.9);
  },
);

t.test('a deletion with a shorter grace cuts the wait, and the grace after it', async (t) => {
  const drainer = fakeDrainer((_req, signal) => new Promise(() => void signal));
  const t0 = Date.now();
  const { outcome, grace } = await stopWithDrain(drainer, 10_000, 30, [], (drain) => {
    setTimeout(() => drain.cut(0.3), 100);
  });
  const took = Date.now() - t0;
  t.equal(outcome.kind, 'failed');
  t.ok(took >= 350 && took < 10_000, `ended at the cut, not the 10 s timeout (${took} ms)`);
  t.ok(grace <= 0.05, `grace left ${grace}`);
  // A longer "cut" moves nothing.
  const later = new EndpointsDrain('u', 100);
  t.equal(later.cut(60), false);
  later.cancel();
  t.equal((await later.run(drainer, pod)).kind, 'failed', 'a cancelled wait ends at once');
});

t.test(
  '--endpoint-drain-timeout: a duration 0s..30s, from the flag or FLOTILLA_ENDPOINT_DRAIN_TIMEOUT',
  async (t) => {
    const opts = (argv: string[], env: NodeJS.ProcessEnv = {}): number | undefined => {
      const c = parseAgentArgs(argv, env);
      return c.kind === 'run' ? c.options.endpointDrainTimeoutMs : -1;
    };
    t.equal(opts([]), undefined, 'unset: the default applies');
    t.equal(opts(['--endpoint-drain-timeout', '3s']), 3_000);
    t.equal(opts(['--endpoint-drain-timeout=0s']), 0);
    t.equal(opts(['--endpoint-drain-timeout=250ms']), 250);
    t.equal(opts([], { FLOTILLA_ENDPOINT_DRAIN_TIMEOUT: '30s' }), 30_000);
    for (const bad of ['31s', '-1s', '10', 'soon']) {
      t.throws(() => parseAgentArgs(['--endpoint-drain-timeout', bad], {}), /--endpoint-drain-timeout/, bad);
    }
  },
);
