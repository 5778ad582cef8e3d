// When the next probe attempt starts: every period, but a readiness probe that has not
// succeeded yet retries soon after a failure, so a container is ready once it serves.
import t from 'tap';
import { firstExecReadinessRetryMs, firstReadinessRetryMs, nextProbeDelayMs } from '@flotilla/agent';

t.test('readiness retries 10, 15, 23… ms until its first success, never past the period', async (t) => {
  const readiness = { kind: 'readiness' as const, periodSeconds: 2 };
  t.same(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14].map((n) => nextProbeDelayMs(readiness, false, n, 0)),
    [10, 15, 23, 34, 51, 76, 114, 171, 256, 1297, 1946, 2000],
  );
  t.equal(firstReadinessRetryMs, 10);
  t.equal(
    nextProbeDelayMs(readiness, false, 14, 500),
    1500,
    'the period still counts from the attempt start',
  );
  t.equal(nextProbeDelayMs(readiness, true, 0, 30), 1970, 'once it succeeded: the period');
  t.equal(nextProbeDelayMs(readiness, true, 3, 30), 1970, 'also when it fails again later');
});

t.test('an exec readiness probe (a runc exec per attempt) retries from 100 ms', async (t) => {
  const readiness = { kind: 'readiness' as const, periodSeconds: 10, action: { type: 'exec' as const } };
  t.equal(firstExecReadinessRetryMs, 100);
  t.same(
    [0, 1, 2].map((n) => nextProbeDelayMs(readiness, false, n, 0)),
    [100, 150, 225],
  );
  t.same(
    nextProbeDelayMs({ ...readiness, action: { type: 'httpGet' as const } }, false, 0, 0),
    10,
    'httpGet: from 10 ms',
  );
});

t.test('liveness and startup probes keep their period from the first attempt', async (t) => {
  for (const kind of ['liveness', 'startup'] as const)
    t.equal(nextProbeDelayMs({ kind, periodSeconds: 10 }, false, 0, 40), 9960, kind);
  t.equal(
    nextProbeDelayMs({ kind: 'liveness', periodSeconds: 1 }, false, 0, 1500),
    0,
    'a slow attempt: at once',
  );
});
