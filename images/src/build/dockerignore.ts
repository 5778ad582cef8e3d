// .dockerignore, with Docker's rules (moby/patternmatcher): one pattern a line, `#` lines
// are comments, `!` makes an exception, patterns are cleaned (a leading "/" or "./" means
// the context root), the last pattern that matches a path decides, and a pattern that
// matches a directory also matches everything under it.
//
// The Dockerfile and .dockerignore themselves may be ignored: the build still reads them
// (they are read directly, not through this predicate); COPY . just does not copy them.
import { invalidArgument } from '@flotilla/common';
import { SyntaxProblem } from './errors.js';
import { cleanPath, ignoreRegex } from './match.js';

export interface IgnorePattern {
  /** The cleaned pattern, without its "!". */
  pattern: string;
  /** A `!` exception: re-includes what earlier patterns excluded. */
  exception: boolean;
  regex: RegExp;
}

export interface DockerIgnore {
  readonly patterns: readonly IgnorePattern[];
  /** Whether a context-relative path ("a/b.txt", no leading "./") is left out of the context. */
  ignores(path: string): boolean;
  /**
   * Whether nothing under an ignored directory can be re-included, so a walk may skip it
   * (false whenever an exception could apply below it).
   */
  canSkipDirectory(path: string): boolean;
}

/** The patterns of a .dockerignore file, cleaned as Docker's reader does; "!" kept. */
export function readDockerignore(text: string): string[] {
  const patterns: string[] = [];
  for (const [index, raw] of text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .entries()) {
    if (raw.startsWith('#')) continue;
    let pattern = raw.trim();
    if (pattern === '') continue;
    const exception = pattern.startsWith('!');
    if (exception) pattern = pattern.slice(1).trim();
    if (exception && pattern === '') {
      throw invalidArgument(`.dockerignore:${index + 1}: "!" needs a pattern after it, e.g. !README.md`, {
        object: 'file/.dockerignore',
        field: `line ${index + 1}`,
        value: raw,
      });
    }
    pattern = cleanPath(pattern);
    if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    patterns.push(exception ? `!${pattern}` : pattern);
  }
  return patterns;
}

export function compileDockerignore(patterns: readonly string[]): DockerIgnore {
  const compiled: IgnorePattern[] = patterns.map((raw) => {
    const exception = raw.startsWith('!');
    const pattern = exception ? raw.slice(1) : raw;
    try {
      return { pattern, exception, regex: ignoreRegex(pattern) };
    } catch (err) {
      throw invalidArgument(`.dockerignore: ${err instanceof SyntaxProblem ? err.message : String(err)}`, {
        object: 'file/.dockerignore',
        value: raw,
      });
    }
  });
  const hasExceptions = compiled.some((p) => p.exception);

  const matches = (p: IgnorePattern, path: string, parents: string[]): boolean =>
    p.regex.test(path) || parents.some((dir) => p.regex.test(dir));

  return {
    patterns: compiled,
    ignores(path) {
      const parts = path.split('/');
      const parents = parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
      let ignored = false;
      for (const p of compiled) {
        // An exception can only change an excluded path and an exclusion an included one.
        if (p.exception !== ignored) continue;
        if (matches(p, path, parents)) ignored = !p.exception;
      }
      return ignored;
    },
    canSkipDirectory(path) {
      if (!hasExceptions) return true;
      // An exception whose fixed leading segments lead into (or above) this directory
      // could re-include something below it.
      return !compiled.some((p) => {
        if (!p.exception) return false;
        const fixed: string[] = [];
        for (const segment of p.pattern.split('/')) {
          if (/[*?[\\]/.test(segment)) break;
          fixed.push(segment);
        }
        const prefix = fixed.join('/');
        return (
          prefix === '' || prefix.startsWith(`${path}/`) || prefix === path || path.startsWith(`${prefix}/`)
        );
      });
    },
  };
}

/** A .dockerignore file's text → its predicate. */
export function parseDockerignore(text: string): DockerIgnore {
  return compileDockerignore(readDockerignore(text));
}
