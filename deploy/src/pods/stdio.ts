// The local end of attach and exec: bytes to stdout/stderr, stdin to the stream, the
// terminal in raw mode (restored on every way out) and its resizes. Without the process's
// streams (tests) output goes through the io's text writers and there is no stdin.
import { spawnSync } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import type { PodStream } from '../client/cluster-client.js';
import type { CliIo } from '../cli/types.js';
import type { ExitStatus, StreamRequest, TerminalSize } from '@flotilla/proto';

export interface Stdio {
  /** stdin is a terminal. */
  stdinIsTty: boolean;
  writeOut(bytes: Uint8Array): void;
  writeErr(bytes: Uint8Array): void;
  /** The terminal's size, when stdout is one. */
  size(): TerminalSize | undefined;
  /** Calls fn on every window resize; returns the unsubscribe. */
  onResize(fn: () => void): () => void;
  /** Puts a terminal stdin in raw mode; returns the restore (idempotent). */
  rawMode(): () => void;
  /** Reads stdin until its end; returns the stop. */
  readStdin(onData: (chunk: Buffer) => void, onEnd: () => void): () => void;
}

export function stdioOf(io: CliIo): Stdio {
  const streams = io.stdio;
  if (!streams) {
    const out = new StringDecoder('utf8');
    const err = new StringDecoder('utf8');
    return {
      stdinIsTty: false,
      writeOut: (bytes) => io.stdout(out.write(Buffer.from(bytes))),
      writeErr: (bytes) => io.stderr(err.write(Buffer.from(bytes))),
      size: () => undefined,
      onResize: () => () => undefined,
      rawMode: () => () => undefined,
      readStdin: (_onData, onEnd) => {
        const timer = setImmediate(onEnd);
        return () => clearImmediate(timer);
      },
    };
  }
  const { stdin, stdout, stderr } = streams;
  return {
    stdinIsTty: stdin.isTTY === true,
    writeOut: (bytes) => stdout.write(bytes),
    writeErr: (bytes) => stderr.write(bytes),
    size: () => (stdout.isTTY && stdout.rows > 0 ? { rows: stdout.rows, cols: stdout.columns } : undefined),
    onResize: (fn) => {
      if (!stdout.isTTY) return () => undefined;
      stdout.on('resize', fn);
      return () => stdout.off('resize', fn);
    },
    rawMode: () => {
      if (!stdin.isTTY) return () => undefined;
      const was = stdin.isRaw;
      stdin.setRawMode(true);
      // libuv's raw mode keeps ONLCR, which would turn the container's \r\n into \r\r\n;
      // docker's raw mode (cfmakeraw) clears it. setRawMode(false) restores it with the rest.
      spawnSync('stty', ['-onlcr'], { stdio: [stdin, 'ignore', 'ignore'] });
      let restored = false;
      const restore = (): void => {
        if (restored) return;
        restored = true;
        process.off('exit', restore);
        stdin.setRawMode(was);
      };
      // Even a crash on the way out leaves the terminal usable.
      process.once('exit', restore);
      return restore;
    },
    readStdin: (onData, onEnd) => {
      let done = false;
      const data = (chunk: Buffer | string): void => onData(Buffer.from(chunk));
      const end = (): void => {
        if (!done) onEnd();
        stop();
      };
      const stop = (): void => {
        done = true;
        stdin.off('data', data);
        stdin.off('end', end);
        stdin.off('error', end);
        stdin.pause();
      };
      stdin.on('data', data);
      stdin.once('end', end);
      stdin.once('error', end);
      stdin.resume();
      return stop;
    },
  };
}

export function streamFrame(part: Partial<StreamRequest>): StreamRequest {
  return {
    exec: undefined,
    attach: undefined,
    stdin: Buffer.alloc(0),
    resize: undefined,
    closeStdin: false,
    ...part,
  };
}

export type StreamEnd = { kind: 'exit'; status: ExitStatus } | { kind: 'ended' } | { kind: 'detached' };

/**
 * Runs an Exec or Attach call whose first frame was sent: output to stdio, stdin and
 * resizes to the call, until the exit status (or the end of the call, or Ctrl-C when the
 * terminal is not raw).
 */
export async function pumpStream(
  stream: PodStream,
  stdio: Stdio,
  options: { stdin: boolean; tty: boolean; signal?: AbortSignal },
): Promise<StreamEnd> {
  const cleanups: (() => void)[] = [];
  let detach: () => void = () => undefined;
  const detached = new Promise<StreamEnd>((resolve) => {
    detach = () => resolve({ kind: 'detached' });
  });
  try {
    if (options.stdin) {
      cleanups.push(
        stdio.readStdin(
          (chunk) => stream.send(streamFrame({ stdin: chunk })),
          () => stream.send(streamFrame({ closeStdin: true })),
        ),
      );
    }
    if (options.tty) {
      cleanups.push(
        stdio.onResize(() => {
          const size = stdio.size();
          if (size) stream.send(streamFrame({ resize: size }));
        }),
      );
    }
    if (options.signal) {
      const signal = options.signal;
      if (signal.aborted) return { kind: 'detached' };
      const onAbort = (): void => detach();
      signal.addEventListener('abort', onAbort, { once: true });
      cleanups.push(() => signal.removeEventListener('abort', onAbort));
    }
    const read = (async (): Promise<StreamEnd> => {
      for await (const response of stream.responses) {
        if (response.stdout.length > 0) stdio.writeOut(response.stdout);
        if (response.stderr.length > 0) stdio.writeErr(response.stderr);
        if (response.exit) return { kind: 'exit', status: response.exit };
      }
      return { kind: 'ended' };
    })();
    const end = await Promise.race([read, detached]);
    if (end.kind === 'detached') read.catch(() => undefined);
    return end;
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
    stream.end();
    stream.cancel();
  }
}
