import t from 'tap';
import { decideRestart, restartBackoffDelay, type RestartInput } from '@flotilla/agent';

const minute = 60_000;
const base = (over: Partial<RestartInput> & { exitCode?: number; ranMs?: number }): RestartInput => {
  const finishedAt = 1_000_000;
  return {
    policy: over.policy ?? 'Always',
    last: {
      exitCode: over.exitCode ?? 1,
      reason: 'Error',
      startedAt: finishedAt - (over.ranMs ?? 1000),
      finishedAt,
    },
    restartCount: over.restartCount ?? 0,
    backoffSteps: over.backoffSteps ?? 0,
    now: over.now ?? finishedAt,
  };
};

t.test('back-off delay: immediate, then 10 s doubling, capped at 5 minutes', async (t) => {
  const table: Array<[number, number]> = [
    [0, 0],
    [1, 10_000],
    [2, 20_000],
    [3, 40_000],
    [4, 80_000],
    [5, 160_000],
    [6, 300_000],
    [7, 300_000],
    [60, 300_000],
  ];
  for (const [steps, ms] of table) t.equal(restartBackoffDelay(steps), ms, `steps ${steps}`);
});

t.test('restart policy decides whether a termination restarts', async (t) => {
  const table: Array<[RestartInput['policy'], number, string]> = [
    ['Always', 0, 'restart'],
    ['Always', 1, 'restart'],
    ['Always', 137, 'restart'],
    ['OnFailure', 0, 'leave-terminated'],
    ['OnFailure', 1, 'restart'],
    ['OnFailure', 137, 'restart'],
    ['Never', 0, 'leave-terminated'],
    ['Never', 1, 'leave-terminated'],
  ];
  for (const [policy, exitCode, action] of table) {
    t.equal(decideRestart(base({ policy, exitCode })).action, action, `${policy} exit ${exitCode}`);
  }
});

t.test('crash loop: waits out the back-off, then restarts and counts a step', async (t) => {
  const first = decideRestart(base({ backoffSteps: 0 }));
  t.same(first, { action: 'restart', at: 1_000_000, backoffSteps: 1 }, 'first crash restarts at once');

  const waiting = decideRestart(base({ backoffSteps: 1, restartCount: 1, now: 1_005_000 }));
  t.match(waiting, { action: 'wait-backoff', until: 1_010_000, reason: 'CrashLoopBackOff' });
  t.match(waiting.action === 'wait-backoff' ? waiting.message : '', /back-off 10s.*exit code 1/);

  t.same(decideRestart(base({ backoffSteps: 1, now: 1_010_000 })), {
    action: 'restart',
    at: 1_010_000,
    backoffSteps: 2,
  });
  t.match(decideRestart(base({ backoffSteps: 3, now: 1_030_000 })), {
    action: 'wait-backoff',
    until: 1_040_000,
  });
  t.match(decideRestart(base({ backoffSteps: 9, now: 1_200_000 })), {
    action: 'wait-backoff',
    until: 1_300_000,
  });
  t.match(decideRestart(base({ backoffSteps: 9, now: 1_300_000 })), { action: 'restart', backoffSteps: 10 });
});

t.test('a run of 10 minutes without a problem resets the back-off', async (t) => {
  t.same(decideRestart(base({ backoffSteps: 8, ranMs: 10 * minute })), {
    action: 'restart',
    at: 1_000_000,
    backoffSteps: 1,
  });
  t.match(decideRestart(base({ backoffSteps: 8, ranMs: 10 * minute - 1 })), {
    action: 'wait-backoff',
    until: 1_300_000,
  });
});
