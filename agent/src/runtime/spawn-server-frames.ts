// The framing between the agent and its spawn server (agent/libexec/spawn-server.py says
// it in full): length-prefixed binary fields, so that the server needs neither json nor
// base64 (their imports were ~2.4 MB of its ~12 MB RSS). Pure: bytes in, values out.

/** A field's count that stands for null (no bytes follow). */
const nullCount = 0xffffffff;

export type Field = Buffer | string | null;

/**
 * What the server does itself rather than run to completion (spawn-server.py says how):
 * start a daemonising command with a sync pipe (conmon), mount(2)/umount2(2), and a named
 * netns as `ip netns add|delete` makes and removes it. Answered as a command: code 0, or a
 * CommandError whose code is the errno name.
 */
export type ServerOp =
  | {
      op: 'detached';
      argv: string[];
      /** null inherits the server's environment (the agent's at its start). */
      env: Record<string, string> | null;
      cwd: string;
      /** The env var that gets the sync pipe's fd number. */
      syncPipeEnv: string;
    }
  | { op: 'mount'; source: string; target: string; fstype: string; flags: number; data: string | null }
  | { op: 'umount'; target: string; flags: number }
  | { op: 'netns-add' | 'netns-delete'; name: string };

/** What the agent asks of the server: a command run to completion, or an op. */
export type SpawnRequest =
  | {
      op: 'run';
      argv: readonly string[];
      /** null inherits the server's environment (the agent's at its start). */
      env: Readonly<Record<string, string>> | null;
      /** null gives the command /dev/null. */
      stdin: string | null;
      timeoutMs: number | null;
    }
  | ServerOp;

export interface SpawnReply {
  id: number | null;
  code: number | null;
  signal: number | null;
  stdout: string;
  stderr: string;
  /** The errno name when the request failed (ENOENT, ETIMEDOUT, EINVAL…). */
  error: string | null;
  message: string | null;
}

/** One frame: its byte count, then each field as a count and its bytes (null: the count alone). */
export function encodeFrame(fields: readonly Field[]): Buffer {
  const bytes = fields.map((f) => (f === null ? null : typeof f === 'string' ? Buffer.from(f) : f));
  const size = bytes.reduce((n, b) => n + 4 + (b === null ? 0 : b.length), 0);
  const frame = Buffer.allocUnsafe(4 + size);
  frame.writeUInt32LE(size, 0);
  let at = 4;
  for (const b of bytes) {
    frame.writeUInt32LE(b === null ? nullCount : b.length, at);
    at += 4;
    if (b !== null) at += b.copy(frame, at);
  }
  return frame;
}

/** The fields of one frame's body (the bytes after its count). */
export function decodeFields(body: Buffer): (Buffer | null)[] {
  const fields: (Buffer | null)[] = [];
  let at = 0;
  while (at < body.length) {
    if (at + 4 > body.length) throw new Error('spawn server frame: truncated field count');
    const count = body.readUInt32LE(at);
    at += 4;
    if (count === nullCount) {
      fields.push(null);
      continue;
    }
    if (at + count > body.length) throw new Error('spawn server frame: field longer than its frame');
    fields.push(body.subarray(at, at + count));
    at += count;
  }
  return fields;
}

/**
 * Splits complete frames off the front of buffered; rest is what belongs to the next one.
 */
export function splitFrames(buffered: Buffer): { bodies: Buffer[]; rest: Buffer } {
  const bodies: Buffer[] = [];
  let at = 0;
  while (buffered.length - at >= 4) {
    const size = buffered.readUInt32LE(at);
    if (buffered.length - at - 4 < size) break;
    bodies.push(buffered.subarray(at + 4, at + 4 + size));
    at += 4 + size;
  }
  return { bodies, rest: buffered.subarray(at) };
}

/** execve's strings end at NUL, and the framing joins lists with it. */
function checkNoNul(what: string, text: string): string {
  if (text.includes('\0')) throw new TypeError(`${what} must not contain a NUL byte`);
  return text;
}

function list(what: string, entries: readonly string[]): string {
  return entries.map((e) => checkNoNul(what, e)).join('\0');
}

function environment(env: Readonly<Record<string, string>> | null): string | null {
  if (env === null) return null;
  return list(
    'an environment variable',
    Object.entries(env).map(([name, value]) => `${name}=${value}`),
  );
}

const decimal = (n: number | null): string | null => (n === null ? null : String(Math.trunc(n)));

/** The request as one frame; throws a TypeError for a NUL in argv or env (as spawn does). */
export function encodeRequest(id: number, request: SpawnRequest): Buffer {
  const head = [String(id), request.op];
  switch (request.op) {
    case 'run':
      return encodeFrame([
        ...head,
        list('an argument', request.argv),
        environment(request.env),
        request.stdin,
        decimal(request.timeoutMs),
      ]);
    case 'detached':
      return encodeFrame([
        ...head,
        list('an argument', request.argv),
        environment(request.env),
        request.cwd,
        request.syncPipeEnv,
      ]);
    case 'mount':
      return encodeFrame([
        ...head,
        request.source,
        request.target,
        request.fstype,
        decimal(request.flags),
        request.data,
      ]);
    case 'umount':
      return encodeFrame([...head, request.target, decimal(request.flags)]);
    case 'netns-add':
    case 'netns-delete':
      return encodeFrame([...head, request.name]);
  }
}

const text = (b: Buffer | null | undefined): string | null =>
  b === null || b === undefined ? null : b.toString('utf8');

function integer(b: Buffer | null | undefined): number | null {
  const t = text(b);
  if (t === null || !/^-?\d+$/.test(t)) return null;
  return Number(t);
}

/** One answer's body: [id, code, signal, stdout, stderr, error, message]. */
export function decodeReply(body: Buffer): SpawnReply {
  const [id, code, signal, stdout, stderr, error, message] = decodeFields(body);
  return {
    id: integer(id),
    code: integer(code),
    signal: integer(signal),
    stdout: text(stdout) ?? '',
    stderr: text(stderr) ?? '',
    error: text(error),
    message: text(message),
  };
}
