// Variable substitution as Docker does it (BuildKit's shell lexer): `$VAR`, `${VAR}`,
// `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?message}`,
// single quotes literal, double quotes expanding `$`, and the escape character making the
// next character literal. Quotes are removed from the result, as a shell would.
import { SyntaxProblem } from './errors.js';

/** The value of a variable, or undefined when it is not set. */
export type Lookup = (name: string) => string | undefined;

/** One word: quotes removed, variables substituted, nothing split. */
export function expandWord(input: string, lookup: Lookup, escape: string): string {
  const lexer = new Lexer(input, lookup, escape, false);
  lexer.run(undefined);
  return lexer.out.join('');
}

/**
 * Several words: unquoted whitespace separates them, and so does whitespace inside an
 * unquoted expansion (EXPOSE $PORTS with PORTS="80 443" is two ports).
 */
export function expandWords(input: string, lookup: Lookup, escape: string): string[] {
  const lexer = new Lexer(input, lookup, escape, true);
  lexer.run(undefined);
  lexer.endWord();
  return lexer.words;
}

/** A lookup over variables in precedence order (the first map that has the name wins). */
export function lookupIn(...scopes: ReadonlyMap<string, string>[]): Lookup {
  return (name) => {
    for (const scope of scopes) {
      const value = scope.get(name);
      if (value !== undefined) return value;
    }
    return undefined;
  };
}

class Lexer {
  private pos = 0;
  /** Current word's pieces (string mode: the whole result). */
  out: string[] = [];
  words: string[] = [];

  constructor(
    private readonly input: string,
    private readonly lookup: Lookup,
    private readonly escape: string,
    private readonly splitting: boolean,
  ) {}

  private peek(): string {
    return this.input[this.pos] ?? '';
  }

  private next(): string {
    return this.input[this.pos++] ?? '';
  }

  endWord(): void {
    const word = this.out.join('');
    if (word !== '') this.words.push(word);
    this.out = [];
  }

  /** Adds expanded text that is not quoted: in word mode its whitespace separates words. */
  private addUnquoted(text: string): void {
    if (!this.splitting) {
      this.out.push(text);
      return;
    }
    for (const ch of text) {
      if (/\s/.test(ch)) this.endWord();
      else this.out.push(ch);
    }
  }

  /** Processes up to `stop` (consumed) or the end; returns whether `stop` was found. */
  run(stop: string | undefined): boolean {
    while (this.pos < this.input.length) {
      const ch = this.peek();
      if (stop !== undefined && ch === stop) {
        this.pos++;
        return true;
      }
      if (ch === "'") this.out.push(this.singleQuoted());
      else if (ch === '"') this.out.push(this.doubleQuoted());
      else if (ch === '$') this.addUnquoted(this.dollar());
      else {
        this.pos++;
        if (ch === this.escape) {
          if (this.pos >= this.input.length) break;
          this.out.push(this.next());
        } else if (this.splitting && /\s/.test(ch)) this.endWord();
        else this.out.push(ch);
      }
    }
    return false;
  }

  private singleQuoted(): string {
    this.pos++;
    const end = this.input.indexOf("'", this.pos);
    if (end < 0)
      throw new SyntaxProblem('unexpected end of statement while looking for matching single-quote');
    const text = this.input.slice(this.pos, end);
    this.pos = end + 1;
    return text;
  }

  private doubleQuoted(): string {
    this.pos++;
    let text = '';
    for (;;) {
      if (this.pos >= this.input.length) {
        throw new SyntaxProblem('unexpected end of statement while looking for matching double-quote');
      }
      const ch = this.peek();
      if (ch === '"') {
        this.pos++;
        return text;
      }
      if (ch === '$') {
        text += this.dollar();
        continue;
      }
      this.pos++;
      if (ch === this.escape) {
        const following = this.peek();
        if (following === '') continue;
        // Inside double quotes only ", $ and the escape character itself can be escaped.
        if (following === '"' || following === '$' || following === this.escape) {
          text += this.next();
          continue;
        }
      }
      text += ch;
    }
  }

  private name(): string {
    const rest = this.input.slice(this.pos);
    const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest) ?? /^[0-9]/.exec(rest);
    const name = match?.[0] ?? '';
    this.pos += name.length;
    return name;
  }

  private dollar(): string {
    this.pos++;
    if (this.peek() !== '{') {
      const name = this.name();
      return name === '' ? '$' : (this.lookup(name) ?? '');
    }
    this.pos++;
    const name = this.name();
    if (name === '') throw new SyntaxProblem(`bad substitution: \${ must be followed by a variable name`);
    const ch = this.next();
    const value = this.lookup(name);
    if (ch === '}') return value ?? '';
    if (ch === '') throw new SyntaxProblem(`missing "}" in variable substitution`);
    let colon = false;
    let modifier = ch;
    if (ch === ':') {
      colon = true;
      modifier = this.next();
    }
    if (modifier !== '-' && modifier !== '+' && modifier !== '?') {
      throw new SyntaxProblem(
        `unsupported modifier ${JSON.stringify((colon ? ':' : '') + modifier)} in \${${name}...}: valid are :- - :+ + :? ?`,
      );
    }
    const word = this.nested();
    const set = colon ? value !== undefined && value !== '' : value !== undefined;
    if (modifier === '-') return set ? (value ?? '') : word;
    if (modifier === '+') return set ? word : '';
    if (!set) throw new SyntaxProblem(`${name}: ${word === '' ? 'is not allowed to be unset' : word}`);
    return value ?? '';
  }

  /** The word of a `${name:-word}` modifier, processed itself, up to the closing brace. */
  private nested(): string {
    const inner = new Lexer(this.input, this.lookup, this.escape, false);
    inner.pos = this.pos;
    if (!inner.run('}')) throw new SyntaxProblem(`missing "}" in variable substitution`);
    this.pos = inner.pos;
    return inner.out.join('');
  }
}
