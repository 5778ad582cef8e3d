// The agent ↔ spawn server framing (agent/libexec/spawn-server.py reads and writes the same
// bytes; the integration test agent-spawn-server.test.ts runs both ends): counts, nulls,
// lists joined by NUL, frames split across and within chunks.
import t from 'tap';
import { decodeSpawnReply, encodeSpawnRequest, splitSpawnFrames } from '@flotilla/agent';

/** A frame's body as fields: null, or the field's text. */
function fieldsOf(frame: Buffer): (string | null)[] {
  const size = frame.readUInt32LE(0);
  const body = frame.subarray(4);
  const out: (string | null)[] = [];
  if (body.length !== size) throw new Error(`count ${size}, body ${body.length}`);
  let at = 0;
  while (at < body.length) {
    const n = body.readUInt32LE(at);
    at += 4;
    if (n === 0xffffffff) {
      out.push(null);
      continue;
    }
    out.push(body.subarray(at, at + n).toString());
    at += n;
  }
  return out;
}

/** A reply as the server writes it: [id, code, signal, stdout, stderr, error, message]. */
function replyFrame(fields: (string | null)[]): Buffer {
  const parts = fields.map((f) => {
    const head = Buffer.alloc(4);
    if (f === null) {
      head.writeUInt32LE(0xffffffff);
      return head;
    }
    const bytes = Buffer.from(f);
    head.writeUInt32LE(bytes.length);
    return Buffer.concat([head, bytes]);
  });
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(body.length);
  return Buffer.concat([head, body]);
}

t.test('requests: fields in order, lists joined by NUL, null as the count alone', async (t) => {
  const table: [string, Parameters<typeof encodeSpawnRequest>[1], (string | null)[]][] = [
    [
      'run, inheriting env, no input, no timeout',
      { op: 'run', argv: ['/bin/echo', 'a b', ''], env: null, stdin: null, timeoutMs: null },
      ['7', 'run', '/bin/echo\0a b\0', null, null, null],
    ],
    [
      'run with env, empty input, a timeout',
      { op: 'run', argv: ['sh'], env: { A: '1', B: 'x=y' }, stdin: '', timeoutMs: 1500 },
      ['7', 'run', 'sh', 'A=1\0B=x=y', '', '1500'],
    ],
    [
      'run with an empty environment',
      { op: 'run', argv: ['sh'], env: {}, stdin: 'é', timeoutMs: null },
      ['7', 'run', 'sh', '', 'é', null],
    ],
    [
      'detached',
      { op: 'detached', argv: ['conmon', '-c', 'x'], env: null, cwd: '/run/x', syncPipeEnv: '_OCI_SYNCPIPE' },
      ['7', 'detached', 'conmon\0-c\0x', null, '/run/x', '_OCI_SYNCPIPE'],
    ],
    [
      'mount',
      { op: 'mount', source: 'overlay', target: '/m', fstype: 'overlay', flags: 0, data: 'lowerdir=/a' },
      ['7', 'mount', 'overlay', '/m', 'overlay', '0', 'lowerdir=/a'],
    ],
    [
      'mount without data',
      { op: 'mount', source: 's', target: '/m', fstype: 'tmpfs', flags: 4096, data: null },
      ['7', 'mount', 's', '/m', 'tmpfs', '4096', null],
    ],
    ['umount', { op: 'umount', target: '/m', flags: 2 }, ['7', 'umount', '/m', '2']],
    ['netns-add', { op: 'netns-add', name: 'n1' }, ['7', 'netns-add', 'n1']],
    ['netns-delete', { op: 'netns-delete', name: 'n1' }, ['7', 'netns-delete', 'n1']],
  ];
  for (const [name, request, fields] of table) t.same(fieldsOf(encodeSpawnRequest(7, request)), fields, name);
});

t.test('requests: a NUL in argv or env is refused (execve could not take it)', async (t) => {
  t.throws(
    () => encodeSpawnRequest(1, { op: 'run', argv: ['a\0b'], env: null, stdin: null, timeoutMs: null }),
    {
      name: 'TypeError',
    },
  );
  t.throws(
    () => encodeSpawnRequest(1, { op: 'run', argv: ['a'], env: { A: '\0' }, stdin: null, timeoutMs: null }),
    {
      name: 'TypeError',
    },
  );
  t.ok(
    encodeSpawnRequest(1, { op: 'run', argv: ['cat'], env: null, stdin: 'in\0put', timeoutMs: null }),
    'input may',
  );
});

t.test('replies: numbers, nulls and text', async (t) => {
  t.same(decodeSpawnReply(replyFrame(['3', '0', null, 'out ✓', '', null, null]).subarray(4)), {
    id: 3,
    code: 0,
    signal: null,
    stdout: 'out ✓',
    stderr: '',
    error: null,
    message: null,
  });
  t.same(decodeSpawnReply(replyFrame(['4', null, '9', '', 'e', null, null]).subarray(4)), {
    id: 4,
    code: null,
    signal: 9,
    stdout: '',
    stderr: 'e',
    error: null,
    message: null,
  });
  t.same(decodeSpawnReply(replyFrame([null, null, null, '', '', 'EINVAL', 'bad']).subarray(4)), {
    id: null,
    code: null,
    signal: null,
    stdout: '',
    stderr: '',
    error: 'EINVAL',
    message: 'bad',
  });
  t.throws(() => decodeSpawnReply(Buffer.from([5, 0, 0, 0, 1])), /field longer than its frame/);
  t.throws(() => decodeSpawnReply(Buffer.from([5, 0])), /truncated field count/);
});

t.test('frames split at every byte boundary come out whole and in order', async (t) => {
  const frames = [
    replyFrame(['1', '0', null, 'a', '', null, null]),
    replyFrame(['2', '1', null, '', 'x'.repeat(300), null, null]),
    replyFrame([]),
  ];
  const all = Buffer.concat(frames);
  for (let cut = 0; cut <= all.length; cut++) {
    const first = splitSpawnFrames(all.subarray(0, cut));
    const second = splitSpawnFrames(Buffer.concat([first.rest, all.subarray(cut)]));
    const bodies = [...first.bodies, ...second.bodies].map((b) => b.toString('hex'));
    if (second.rest.length !== 0) t.fail(`rest left at cut ${cut}`);
    if (bodies.join() !== frames.map((f) => f.subarray(4).toString('hex')).join()) t.fail(`cut ${cut}`);
  }
  t.pass('every cut');
});
