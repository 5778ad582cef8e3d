// Reads a container's CRI log file: the last N entries, then (follow) new ones as conmon
// appends them. Polls the file rather than fs.watch: conmon's rotation renames a new
// file over the old one, which a watch on the old inode would miss.
import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { CriAssembler, parseCriLine, tailEntries, type LogEntry } from './cri-log.js';

export interface ReadLogOptions {
  /** Only the last n entries already in the file; all when undefined. */
  tail?: number;
  /** Keep reading as the file grows, until signal aborts. */
  follow?: boolean;
  signal?: AbortSignal;
  /** How often follow looks at the file; 100 ms by default. */
  pollMs?: number;
}

async function readFrom(path: string, offset: number): Promise<{ text: Buffer; ino: number; size: number }> {
  const handle = await open(path, 'r');
  try {
    const info = await handle.stat();
    const length = Math.max(0, info.size - offset);
    const buffer = Buffer.alloc(length);
    if (length > 0) await handle.read(buffer, 0, length, offset);
    return { text: buffer, ino: info.ino, size: info.size };
  } finally {
    await handle.close();
  }
}

/** The entries of a CRI log file; a missing file has none (the container wrote nothing yet). */
export async function* readCriLog(path: string, options: ReadLogOptions = {}): AsyncGenerator<LogEntry> {
  const assembler = new CriAssembler();
  let offset = 0;
  let ino = -1;
  let rest = '';
  const consume = (chunk: Buffer): LogEntry[] => {
    const lines = (rest + chunk.toString('utf8')).split('\n');
    // The last piece has no newline yet: conmon may still be writing it.
    rest = lines.pop() ?? '';
    const out: LogEntry[] = [];
    for (const raw of lines) {
      const line = parseCriLine(raw);
      const entry = line === undefined ? undefined : assembler.push(line);
      if (entry !== undefined) out.push(entry);
    }
    return out;
  };

  try {
    const first = await readFrom(path, 0);
    ino = first.ino;
    offset = first.size;
    const entries = consume(first.text);
    if (options.follow !== true && rest !== '') entries.push(...consume(Buffer.from('\n')));
    if (options.follow !== true) entries.push(...assembler.flush());
    yield* tailEntries(entries, options.tail);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (options.follow !== true) return;

  const signal = options.signal;
  while (signal?.aborted !== true) {
    try {
      await sleep(options.pollMs ?? 100, undefined, signal ? { signal } : {});
    } catch {
      return; // aborted
    }
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    // Rotated (a new file) or truncated: start over at its beginning.
    if (info.ino !== ino || info.size < offset) {
      ino = info.ino;
      offset = 0;
      rest = '';
    }
    if (info.size === offset) continue;
    const next = await readFrom(path, offset);
    offset = next.size;
    ino = next.ino;
    for (const entry of consume(next.text)) yield entry;
  }
}
