// One small JSON document on disk that several processes change: reads see a whole
// file (it is replaced by rename, after fsync), and changes are serialised — in this
// process by a queue, across processes by a lock file beside it.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FlotillaError } from '@flotilla/common';
import { acquireLock } from './lock.js';

export interface JsonFileOptions<T> {
  /** What the file holds when it does not exist yet. */
  empty: () => T;
  /** Checks a parsed document; throws (any error) when it has the wrong shape. */
  parse: (value: unknown) => T;
  /** Names the file in errors, e.g. "image store" or "build cache". */
  what: string;
  /** Appended to the "not valid" error, e.g. what the user can do about it. */
  hint?: string;
}

export class LockedJsonFile<T> {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly options: JsonFileOptions<T>,
  ) {}

  async read(): Promise<T> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.options.empty();
      throw err;
    }
    try {
      return this.options.parse(JSON.parse(text));
    } catch (err) {
      const hint = this.options.hint ? ` (${this.options.hint})` : '';
      throw new FlotillaError(
        'Internal',
        `${this.options.what} ${this.path} is not valid JSON: ${String(err)}${hint}`,
        { object: this.path },
        { cause: err },
      );
    }
  }

  /** Reads, lets change edit the document in place, writes it back; returns change's result. */
  update<R>(change: (data: T) => R): Promise<R> {
    const run = async (): Promise<R> => {
      await mkdir(dirname(this.path), { recursive: true });
      const release = await acquireLock(`${this.path}.lock`);
      try {
        const data = await this.read();
        const result = change(data);
        await this.write(data);
        return result;
      } finally {
        await release?.();
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async write(data: T): Promise<void> {
    const dir = dirname(this.path);
    const temp = join(dir, `.${basename(this.path)}-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
    const file = await open(temp, 'wx', 0o644);
    try {
      await file.writeFile(JSON.stringify(data, null, 2) + '\n');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, this.path);
  }
}
