// Where manifests come from: -f FILE, -f DIR (its .yaml, .yml and .json files in name
// order, not recursively, as kubectl without -R) and -f - (stdin), in the order given.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { errorMessage } from '@flotilla/common';

export interface ManifestSource {
  /** As the user wrote it (or "<stdin>"), for messages. */
  name: string;
  text: string;
}

export interface SourceInput {
  cwd: string;
  /** All of stdin, for "-f -". */
  readStdin: () => Promise<string>;
}

export interface SourcesRead {
  sources: ManifestSource[];
  /** Paths that could not be read: "web.yaml: no such file or directory". */
  problems: string[];
}

export const manifestExtensions = ['.yaml', '.yml', '.json'] as const;

export function isManifestFile(name: string): boolean {
  return manifestExtensions.some((ext) => name.toLowerCase().endsWith(ext));
}

function readProblem(path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `${path}: no such file or directory`;
  if (code === 'EACCES') return `${path}: permission denied`;
  return `${path}: ${errorMessage(err)}`;
}

export async function readSources(paths: readonly string[], input: SourceInput): Promise<SourcesRead> {
  const sources: ManifestSource[] = [];
  const problems: string[] = [];
  let stdinRead = false;
  for (const path of paths) {
    if (path === '-') {
      if (stdinRead) {
        problems.push('-: stdin can be read only once; give "-f -" once');
        continue;
      }
      stdinRead = true;
      sources.push({ name: '<stdin>', text: await input.readStdin() });
      continue;
    }
    const full = resolve(input.cwd, path);
    try {
      if ((await stat(full)).isDirectory()) {
        const names = (await readdir(full)).filter(isManifestFile).sort();
        if (names.length === 0) {
          problems.push(`${path}: no ${manifestExtensions.join(', ')} files in the directory`);
        }
        for (const name of names) {
          sources.push({ name: join(path, name), text: await readFile(join(full, name), 'utf8') });
        }
      } else {
        sources.push({ name: path, text: await readFile(full, 'utf8') });
      }
    } catch (err) {
      problems.push(readProblem(path, err));
    }
  }
  return { sources, problems };
}

/** Reads a stream to its end as text (stdin for "-f -"). */
export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
