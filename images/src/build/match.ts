// Path patterns compiled to regular expressions: Go's filepath.Match (COPY and ADD
// sources) and Docker's .dockerignore flavour of it (which adds `**`). Paths are
// "/"-separated and relative, without a leading "./".
import { posix } from 'node:path';
import { SyntaxProblem } from './errors.js';

const regexSpecial = /[.+()|{}$^*?[\]\\/]/;
const escapeChar = (ch: string): string => (regexSpecial.test(ch) ? `\\${ch}` : ch);
const classChar = (ch: string): string => (/[\\\][^-]/.test(ch) ? `\\${ch}` : ch);

/** Whether a source has unescaped wildcard characters (`*`, `?`, `[`). */
export function hasWildcards(pattern: string): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

/**
 * A `[...]` class starting at pattern[start] (the "["), as Go reads it: optional "^",
 * then ranges `a` or `a-z`, characters escaped with "\"; "-" and "]" only escaped.
 * Returns the regex class and the index after the closing "]".
 */
function characterClass(pattern: string, start: number): { regex: string; end: number } {
  let i = start + 1;
  let regex = '[';
  if (pattern[i] === '^') {
    regex += '^';
    i++;
  }
  let ranges = 0;
  const single = (): string => {
    let ch = pattern[i];
    if (ch === '\\') ch = pattern[++i];
    if (ch === undefined || ch === '-' || ch === ']') {
      throw new SyntaxProblem(`malformed character class in pattern ${JSON.stringify(pattern)}`);
    }
    i++;
    return ch;
  };
  for (;;) {
    if (pattern[i] === ']' && ranges > 0) return { regex: `${regex}]`, end: i + 1 };
    const lo = single();
    let hi = lo;
    if (pattern[i] === '-') {
      i++;
      hi = single();
    }
    if (hi < lo) throw new SyntaxProblem(`bad range ${lo}-${hi} in pattern ${JSON.stringify(pattern)}`);
    regex += lo === hi ? classChar(lo) : `${classChar(lo)}-${classChar(hi)}`;
    ranges++;
  }
}

/** Go's filepath.Match as an anchored regex: `*` and `?` never match "/". */
export function globRegex(pattern: string): RegExp {
  let regex = '^';
  for (let i = 0; i < pattern.length;) {
    const ch = pattern[i] ?? '';
    if (ch === '*') {
      regex += '[^/]*';
      i++;
    } else if (ch === '?') {
      regex += '[^/]';
      i++;
    } else if (ch === '[') {
      const cls = characterClass(pattern, i);
      regex += cls.regex;
      i = cls.end;
    } else if (ch === '\\') {
      const next = pattern[i + 1];
      if (next === undefined) throw new SyntaxProblem(`pattern ${JSON.stringify(pattern)} ends with "\\"`);
      regex += escapeChar(next);
      i += 2;
    } else {
      regex += escapeChar(ch);
      i++;
    }
  }
  return toRegExp(`${regex}$`, pattern);
}

/**
 * A .dockerignore pattern as Docker's patternmatcher compiles it: filepath.Match plus
 * `**` for any number of path segments (including none).
 */
export function ignoreRegex(pattern: string): RegExp {
  let regex = '^';
  for (let i = 0; i < pattern.length;) {
    const ch = pattern[i] ?? '';
    if (ch === '*' && pattern[i + 1] === '*') {
      i += 2;
      if (pattern[i] === '/') i++;
      // "**" at the end takes everything; elsewhere any run of whole segments.
      regex += i >= pattern.length ? '.*' : '(.*/)?';
    } else if (ch === '*') {
      regex += '[^/]*';
      i++;
    } else if (ch === '?') {
      regex += '[^/]';
      i++;
    } else if (ch === '[') {
      const cls = characterClass(pattern, i);
      regex += cls.regex;
      i = cls.end;
    } else if (ch === '\\') {
      const next = pattern[i + 1];
      regex += next === undefined ? '\\\\' : escapeChar(next);
      i += 2;
    } else {
      regex += escapeChar(ch);
      i++;
    }
  }
  return toRegExp(`${regex}$`, pattern);
}

function toRegExp(source: string, pattern: string): RegExp {
  try {
    return new RegExp(source, 'u');
  } catch (cause) {
    throw new SyntaxProblem(`malformed pattern ${JSON.stringify(pattern)}`, { cause });
  }
}

/**
 * Go's filepath.Clean for "/"-separated paths: no "." segments, ".." resolved where
 * possible, no trailing or doubled "/"; "" becomes ".".
 */
export function cleanPath(path: string): string {
  if (path === '') return '.';
  const normal = posix.normalize(path);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}
