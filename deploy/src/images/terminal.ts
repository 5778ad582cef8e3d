// Reading from the person at the terminal: a password without echo, a yes/no question,
// or all of stdin for --password-stdin. Injected into commands so tests can answer.
import { FlotillaError } from '@flotilla/common';

export interface Terminal {
  /** Whether stdin is a terminal (a person can be asked). */
  interactive: boolean;
  /** Writes the prompt to stderr and reads one line without echoing it. */
  readSecret(prompt: string, signal?: AbortSignal): Promise<string>;
  /** Writes the prompt and reads one line, echoed. */
  readLine(prompt: string, signal?: AbortSignal): Promise<string>;
  /** Everything on stdin up to its end. */
  readAll(signal?: AbortSignal): Promise<string>;
}

const maxStdin = 64 * 1024;

function interrupted(): Error {
  return new FlotillaError('FailedPrecondition', 'interrupted');
}

/** Reads a line from a raw-mode terminal; echo is a function of the typed text. */
function readRawLine(
  stdin: NodeJS.ReadStream,
  echo: (char: string) => void,
  signal?: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let line = '';
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    stdin.resume();
    const finish = (err?: Error): void => {
      stdin.setRawMode(wasRaw);
      stdin.pause();
      stdin.off('data', onData);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(line);
    };
    const onAbort = (): void => finish(interrupted());
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish();
        // Ctrl-C and Ctrl-D: raw mode turns them into bytes instead of signals.
        if (char === '\u0003' || char === '\u0004') return finish(interrupted());
        if (char === '\u007f' || char === '\b') {
          line = [...line].slice(0, -1).join('');
          continue;
        }
        if (char < ' ') continue;
        line += char;
        echo(char);
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    stdin.on('data', onData);
  });
}

export function processTerminal(stderr: (text: string) => void): Terminal {
  const stdin = process.stdin;
  const interactive = stdin.isTTY;
  return {
    interactive,
    async readSecret(prompt, signal) {
      stderr(prompt);
      try {
        return await readRawLine(stdin, () => undefined, signal);
      } finally {
        stderr('\n');
      }
    },
    async readLine(prompt, signal) {
      stderr(prompt);
      try {
        return await readRawLine(stdin, (c) => stderr(c), signal);
      } finally {
        stderr('\n');
      }
    },
    readAll(signal) {
      return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = (err?: Error): void => {
          stdin.off('data', onData);
          stdin.off('end', onEnd);
          stdin.off('error', onError);
          signal?.removeEventListener('abort', onAbort);
          stdin.pause();
          if (err) reject(err);
          else resolve(Buffer.concat(chunks).toString('utf8'));
        };
        const onData = (chunk: Buffer): void => {
          size += chunk.length;
          if (size > maxStdin) {
            done(
              new FlotillaError(
                'InvalidArgument',
                `stdin holds more than ${maxStdin} bytes; expected one password`,
              ),
            );
            return;
          }
          chunks.push(chunk);
        };
        const onEnd = (): void => done();
        const onError = (err: Error): void => done(err);
        const onAbort = (): void => done(interrupted());
        stdin.on('data', onData);
        stdin.once('end', onEnd);
        stdin.once('error', onError);
        signal?.addEventListener('abort', onAbort, { once: true });
        stdin.resume();
      });
    },
  };
}
