// Dockerfile text → parser directives and logical lines, following BuildKit's reader:
// directives only at the very top, comments only as whole lines, continuation lines
// joined with the escape character removed (and no space added), comment and blank lines
// inside a continuation dropped.
import { dockerfileError } from './errors.js';
import type { EscapeChar } from './types.js';

export interface LogicalLine {
  /** 1-based line of the first physical line. */
  line: number;
  endLine: number;
  text: string;
}

export interface SplitResult {
  escape: EscapeChar;
  /** Directives seen at the top, keys lower-cased (`syntax`, `escape`, `check`). */
  directives: Record<string, string>;
  lines: LogicalLine[];
}

const directivePattern = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;
const knownDirectives = new Set(['syntax', 'escape', 'check']);

export function splitLines(text: string, filename: string): SplitResult {
  const physical = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const directives: Record<string, string> = {};
  let escape: EscapeChar = '\\';

  let i = 0;
  // Directives: consecutive `# key=value` lines at the very top; the first line that is
  // anything else (an unknown key counts as a comment) ends the search, as in BuildKit.
  for (; i < physical.length; i++) {
    const match = directivePattern.exec(physical[i] ?? '');
    if (!match) break;
    const key = (match[1] ?? '').toLowerCase();
    const value = match[2] ?? '';
    if (!knownDirectives.has(key)) break;
    if (key in directives) {
      throw dockerfileError(filename, i + 1, `only one "${key}" parser directive can be used`, value);
    }
    directives[key] = value;
    if (key === 'escape') {
      if (value !== '\\' && value !== '`') {
        throw dockerfileError(
          filename,
          i + 1,
          `invalid escape character ${JSON.stringify(value)}: valid are \\ and \``,
          value,
        );
      }
      escape = value;
    }
  }

  const continuation = new RegExp(`${escape === '\\' ? '\\\\' : '`'}[ \\t]*$`);
  const isComment = (s: string): boolean => /^[ \t]*#/.test(s);
  const isBlank = (s: string): boolean => s.trim() === '';
  const lines: LogicalLine[] = [];

  while (i < physical.length) {
    const first = physical[i] ?? '';
    const start = i + 1;
    i++;
    if (isBlank(first) || isComment(first)) continue;
    let text = first.replace(/^[ \t]+/, '');
    let open = continuation.test(text);
    if (open) text = text.replace(continuation, '');
    let end = start;
    while (open && i < physical.length) {
      const next = physical[i] ?? '';
      i++;
      if (isComment(next) || isBlank(next)) continue;
      end = i;
      open = continuation.test(next);
      text += open ? next.replace(continuation, '') : next;
    }
    text = text.trim();
    if (text !== '') lines.push({ line: start, endLine: end, text });
  }
  return { escape, directives, lines };
}
