/**
 * Splits a rule line of iptables-save into its arguments: words, and double-quoted
 * strings with backslash escapes (comments such as "dnat name: \"flotilla-flt0\" id: \"…\"").
 * The agent's reset, `deploy down` of netns hosts and the tests' teardown all read rules so.
 */
export function splitIptablesRule(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] ?? '';
    if (quoted) {
      if (c === '\\' && i + 1 < line.length) word += line[++i] ?? '';
      else if (c === '"') quoted = false;
      else word += c;
    } else if (c === '"') {
      quoted = true;
      inWord = true;
    } else if (c === ' ') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
