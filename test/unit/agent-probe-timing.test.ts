// When the next probe attempt starts: every period, but a readiness probe that has not
// settled yet retries soon after a failure, so a container is ready once it serves.
import t from 'tap';
import { firstReadinessRetryMs, nextProbeDelayMs } from '@flotilla/agent';

t.test(
  'readiness retries 100, 200, 400… ms until its first result settles it, never past the period',
  async (t) => {
    const readiness = { kind: 'readiness' as const, periodSeconds: 2 };
    t.same(
      [0, 1, 2, 3, 4, 5].map((n) => nextProbeDelayMs(readiness, 'unknown', n, 0)),
      [100, 200, 400, 800, 1600, 2000],
    );
    t.equal(firstReadinessRetryMs, 100);
    t.equal(
      nextProbeDelayMs(readiness, 'unknown', 4, 500),
      1500,
      'the period still counts from the attempt start',
    );
    t.equal(nextProbeDelayMs(readiness, 'success', 0, 30), 1970, 'once ready: the period');
    t.equal(nextProbeDelayMs(readiness, 'failure', 0, 30), 1970, 'failed to its threshold: the period');
  },
);

t.test('liveness and startup probes keep their period from the first attempt', async (t) => {
  for (const kind of ['liveness', 'startup'] as const)
    t.equal(nextProbeDelayMs({ kind, periodSeconds: 10 }, 'unknown', 0, 40), 9960, kind);
  t.equal(
    nextProbeDelayMs({ kind: 'liveness', periodSeconds: 1 }, 'unknown', 0, 1500),
    0,
    'a slow attempt: at once',
  );
});
