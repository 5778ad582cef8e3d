// The build's progress text, in the shape of Docker's classic builder, so a person who
// knows `docker build` reads it at a glance. Pure.
import type { Digest } from '../types.js';

/** "sha256:" and the first 12 hex digits: enough to tell steps and images apart. */
export function shortDigest(digest: Digest): string {
  const [algorithm, hex = ''] = digest.split(':', 2);
  return `${algorithm}:${hex.slice(0, 12)}`;
}

export function stepLine(n: number, total: number, instruction: string): string {
  return `Step ${n}/${total} : ${instruction}\n`;
}

export const usingCache = ' ---> Using cache\n';

export function resultLine(id: Digest): string {
  return ` ---> ${shortDigest(id)}\n`;
}

/** Docker's closing lines; the id is the image ID `deploy images` shows (12 hex of the config digest). */
export function builtLines(configDigest: Digest, names: readonly string[]): string {
  return [
    `Successfully built ${shortDigest(configDigest).replace(/^sha256:/, '')}`,
    ...names.map((n) => `Successfully tagged ${n}`),
  ]
    .map((l) => `${l}\n`)
    .join('');
}
