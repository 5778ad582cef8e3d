// Splitting an instruction's arguments the way BuildKit's parser does, before any `$`
// substitution: leading `--flags`, the JSON (exec) form, and quote-aware words that keep
// their quotes and escapes for the substitution pass to process.

/** Leading `--name[=value]` words; a bare `--` ends them. Quotes in flags are removed. */
export function extractFlags(args: string): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let pos = 0;
  for (;;) {
    while (pos < args.length && /\s/.test(args[pos] ?? '')) pos++;
    if (!args.startsWith('--', pos)) return { flags, rest: args.slice(pos) };
    let word = '';
    let quote = '';
    for (; pos < args.length; pos++) {
      let ch = args[pos] ?? '';
      if (quote === '' && /\s/.test(ch)) break;
      if (quote === '' && (ch === '"' || ch === "'")) {
        quote = ch;
        continue;
      }
      if (quote !== '' && ch === quote) {
        quote = '';
        continue;
      }
      if (ch === '\\' && pos + 1 < args.length) ch = args[++pos] ?? '';
      word += ch;
    }
    if (word === '--') return { flags, rest: args.slice(pos).trimStart() };
    flags.push(word);
  }
}

/** `["a", "b"]` → ['a', 'b']; anything that is not a JSON array of strings → undefined. */
export function parseJsonArray(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(args);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) return undefined;
  return value;
}

/**
 * Whitespace-separated words where quoted spans and escaped characters do not split;
 * quotes and escapes stay in the words (BuildKit's parseWords).
 */
export function splitWords(input: string, escape: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote = '';
  let quoted = false;
  for (let pos = 0; pos < input.length; pos++) {
    let ch = input[pos] ?? '';
    if (quote === '') {
      if (/\s/.test(ch)) {
        if (inWord && (word !== '' || quoted)) words.push(word);
        word = '';
        inWord = false;
        quoted = false;
        continue;
      }
      inWord = true;
      if (ch === '"' || ch === "'") {
        quote = ch;
        quoted = true;
      } else if (ch === escape) {
        if (pos + 1 === input.length) continue;
        word += ch;
        ch = input[++pos] ?? '';
      }
      word += ch;
      continue;
    }
    if (ch === quote) quote = '';
    else if (ch === escape && quote !== "'") {
      if (pos + 1 === input.length) continue;
      word += ch;
      ch = input[++pos] ?? '';
    }
    word += ch;
  }
  if (inWord && (word !== '' || quoted)) words.push(word);
  return words;
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The closest candidate within distance 2, if any. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = editDistance(word.toUpperCase(), candidate.toUpperCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}
