// The pure parts of deploy logs, stop and start: --tail and --since values, and the pod
// each lifecycle command writes.
import t from 'tap';
import {
  parseSince,
  parseTail,
  restartedAtAnnotation,
  splitPodContainer,
  startedPod,
  stoppedPod,
} from '@flotilla/deploy';
import { Pod } from '@flotilla/proto';

t.test('--tail: a count or all', async (t) => {
  t.same(parseTail('10'), { ok: true, value: 10 });
  t.same(parseTail('0'), { ok: true, value: 0 });
  t.same(parseTail('all'), { ok: true, value: undefined });
  t.match(parseTail('-1'), { ok: false, reason: /a number of lines \(0 or more\) or "all"/ });
  t.match(parseTail('ten'), { ok: false });
});

t.test('--since: RFC 3339, a duration before now, or Unix seconds', async (t) => {
  const now = new Date('2026-12-01T12:00:00Z');
  t.same(parseSince('2026-12-01T10:00:00Z', now), { ok: true, value: '2026-12-01T10:00:00.000Z' });
  t.same(parseSince('2026-12-01T10:00:00+02:00', now), { ok: true, value: '2026-12-01T08:00:00.000Z' });
  t.same(parseSince('10m', now), { ok: true, value: '2026-12-01T11:50:00.000Z' });
  t.same(parseSince('1h30m', now), { ok: true, value: '2026-12-01T10:30:00.000Z' });
  t.same(parseSince('1764590400', now), { ok: true, value: '2025-12-01T12:00:00.000Z' });
  t.match(parseSince('yesterday', now), {
    ok: false,
    reason: /a time such as 2026-12-01T10:00:00Z, a duration before now such as 10m/,
  });
  t.match(parseSince('2026-13-45T99:00:00Z', now), { ok: false });
});

t.test('POD/CONTAINER', async (t) => {
  t.same(splitPodContainer('web'), { pod: 'web' });
  t.same(splitPodContainer('web/sidecar'), { pod: 'web', container: 'sidecar' });
});

const pod = Pod.fromJSON({
  metadata: { name: 'web', namespace: 'default', resourceVersion: '7', annotations: { a: 'b' } },
  spec: { containers: [{ name: 'web', image: 'w' }], restartPolicy: 'Never' },
});

t.test('stop writes spec.stopped, and nothing when it is already stopped', async (t) => {
  const stopped = stoppedPod(pod, true);
  t.equal(stopped?.spec?.stopped, true);
  t.equal(stopped?.metadata?.resourceVersion, '7', 'guarded by the version read');
  t.equal(pod.spec?.stopped, false, 'the pod read is left as it was');
  t.equal(stopped ? stoppedPod(stopped, true) : 'none', undefined);
});

t.test('start clears spec.stopped and sets a new restartedAt, keeping other annotations', async (t) => {
  const stopped = stoppedPod(pod, true) ?? pod;
  const started = startedPod(stopped, new Date('2026-12-01T12:00:00Z'));
  t.equal(started?.spec?.stopped, false);
  t.same(started?.metadata?.annotations, { a: 'b', [restartedAtAnnotation]: '2026-12-01T12:00:00.000Z' });
  t.equal(restartedAtAnnotation, 'flotilla.io/restartedAt');
  const again = startedPod(started ?? pod, new Date('2026-12-01T12:00:05Z'));
  t.equal(
    again?.metadata?.annotations[restartedAtAnnotation],
    '2026-12-01T12:00:05.000Z',
    'a later start is a new value',
  );
});
