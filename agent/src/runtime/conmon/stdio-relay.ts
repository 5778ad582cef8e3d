// A small python3 relay for what Node cannot do itself: connect conmon's SOCK_SEQPACKET
// attach socket, and receive the pseudo-terminal master runc hands over through a console
// socket (SCM_RIGHTS) and resize it (TIOCSWINSZ). Python's standard library has all of
// these and is on every host (scripts/setup.sh), so no native addon has to be built or
// shipped. The relay speaks length-prefixed frames on its stdio (one byte kind, four
// bytes big-endian length, payload); RelayProcess is the Node side of that protocol.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { defaultPython } from '../python.js';

/** Frames the relay writes (its stdout). */
export const relayOut = { stdout: 1, stderr: 2, exit: 3, error: 4 } as const;
/** Frames the relay reads (its stdin). */
export const relayIn = { stdin: 0, closeStdin: 1, resize: 2 } as const;

// The relay's modes (attach, exec-tty) are described at the top of the script.
/** The relay itself, shipped beside the agent package (agent/libexec/). */
export const relayScriptPath = fileURLToPath(new URL('../../../libexec/stdio-relay.py', import.meta.url));

export interface RelayEvents {
  stdout: [Buffer];
  stderr: [Buffer];
  /** The exit frame (exec-tty): the process's exit status. */
  exit: [number];
  /** The relay could not do its job: why. (Not "error": that one throws without a listener.) */
  failure: [string];
  /** The relay process ended; everything it sent was emitted before. */
  close: [];
}

/** One relay process and its frames. */
export class RelayProcess extends EventEmitter<RelayEvents> {
  private readonly child: ChildProcess;
  private readonly input: Writable;
  private buffered: Buffer = Buffer.alloc(0);
  private ended = false;
  /** Resolves once the relay is connected (attach) or started (exec-tty). */
  readonly connected: Promise<void>;

  constructor(args: string[], options: { python?: string } = {}) {
    super();
    this.child = spawn(options.python ?? defaultPython(), [relayScriptPath, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.input = this.child.stdin as Writable;
    // The relay may exit while a frame is on its way; that is reported by close.
    this.input.on('error', () => undefined);
    let stderr = '';
    (this.child.stderr as Readable).on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    let connectedResolve: () => void = () => undefined;
    this.connected = new Promise<void>((resolve) => (connectedResolve = resolve));
    (this.child.stdout as Readable).on('data', (d: Buffer) => this.parse(d, connectedResolve));
    this.child.once('error', (err) => this.emit('failure', `python3 could not be started: ${err.message}`));
    this.child.once('close', (code) => {
      if (code !== 0 && stderr.trim() !== '') this.emit('failure', stderr.trim());
      this.ended = true;
      connectedResolve();
      this.emit('close');
    });
  }

  private parse(data: Buffer, connected: () => void): void {
    this.buffered = this.buffered.length === 0 ? data : Buffer.concat([this.buffered, data]);
    while (this.buffered.length >= 5) {
      const kind = this.buffered.readUInt8(0);
      const length = this.buffered.readUInt32BE(1);
      if (this.buffered.length < 5 + length) break;
      const payload = this.buffered.subarray(5, 5 + length);
      this.buffered = this.buffered.subarray(5 + length);
      if (kind === relayOut.stdout) {
        // The empty stdout frame is the relay saying it is connected.
        if (payload.length === 0) connected();
        else this.emit('stdout', Buffer.from(payload));
      } else if (kind === relayOut.stderr) this.emit('stderr', Buffer.from(payload));
      else if (kind === relayOut.exit) this.emit('exit', Number(payload.toString()));
      else if (kind === relayOut.error) this.emit('failure', payload.toString());
    }
  }

  private frame(kind: number, payload: Buffer): void {
    if (this.ended) return;
    const header = Buffer.alloc(5);
    header.writeUInt8(kind, 0);
    header.writeUInt32BE(payload.length, 1);
    this.input.write(Buffer.concat([header, payload]));
  }

  /** The pid of the relay itself. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  write(data: Uint8Array): void {
    if (data.length > 0) this.frame(relayIn.stdin, Buffer.from(data));
  }

  closeStdin(): void {
    this.frame(relayIn.closeStdin, Buffer.alloc(0));
  }

  resize(rows: number, cols: number): void {
    const payload = Buffer.alloc(4);
    payload.writeUInt16BE(Math.min(rows, 0xffff), 0);
    payload.writeUInt16BE(Math.min(cols, 0xffff), 2);
    this.frame(relayIn.resize, payload);
  }

  /** Ends the relay (closing its stdin ends its loop; SIGKILL if it lingers). */
  stop(): void {
    if (this.ended) return;
    this.input.end();
    const timer = setTimeout(() => {
      if (!this.ended) this.child.kill('SIGKILL');
    }, 2_000);
    timer.unref();
  }
}
