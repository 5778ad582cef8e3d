// A unified diff of two texts by lines (the longest common subsequence, three lines of
// context), as `diff -u` prints it: what `deploy diff` shows. Pure.

type Edit = { op: ' ' | '-' | '+'; line: string };

function lines(text: string): string[] {
  if (text === '') return [];
  return text.replace(/\n$/, '').split('\n');
}

function edits(a: readonly string[], b: readonly string[]): Edit[] {
  // lcs[i][j]: the common subsequence length of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      const row = lcs[i] as number[];
      row[j] =
        a[i] === b[j] ? (lcs[i + 1]?.[j + 1] ?? 0) + 1 : Math.max(lcs[i + 1]?.[j] ?? 0, row[j + 1] ?? 0);
    }
  }
  const out: Edit[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ op: ' ', line: a[i] ?? '' });
      i++;
      j++;
    } else if (j < b.length && (i >= a.length || (lcs[i]?.[j + 1] ?? 0) > (lcs[i + 1]?.[j] ?? 0))) {
      out.push({ op: '+', line: b[j] ?? '' });
      j++;
    } else {
      out.push({ op: '-', line: a[i] ?? '' });
      i++;
    }
  }
  return out;
}

function range(start: number, count: number): string {
  // diff -u: an empty side is "0,0"; one line is just its number.
  if (count === 0) return `${start - 1 < 0 ? 0 : start - 1},0`;
  return count === 1 ? `${start}` : `${start},${count}`;
}

/** "" when the texts are equal; otherwise ---/+++ headers and @@ hunks. */
export function unifiedDiff(
  before: string,
  after: string,
  fromName: string,
  toName: string,
  context = 3,
): string {
  const all = edits(lines(before), lines(after));
  if (all.every((e) => e.op === ' ')) return '';
  const out = [`--- ${fromName}`, `+++ ${toName}`];
  let k = 0;
  while (k < all.length) {
    // Next change, then a hunk from `context` lines before it to `context` after the last change near it.
    while (k < all.length && all[k]?.op === ' ') k++;
    if (k >= all.length) break;
    const start = Math.max(0, k - context);
    let end = k;
    let last = k;
    while (end < all.length) {
      if (all[end]?.op !== ' ') last = end;
      else if (end - last > 2 * context) break;
      end++;
    }
    const stop = Math.min(all.length, last + context + 1);
    const hunk = all.slice(start, stop);
    const aBefore = all.slice(0, start).filter((e) => e.op !== '+').length;
    const bBefore = all.slice(0, start).filter((e) => e.op !== '-').length;
    const aCount = hunk.filter((e) => e.op !== '+').length;
    const bCount = hunk.filter((e) => e.op !== '-').length;
    out.push(`@@ -${range(aBefore + 1, aCount)} +${range(bBefore + 1, bCount)} @@`);
    for (const e of hunk) out.push(`${e.op}${e.line}`);
    k = stop;
  }
  return out.join('\n') + '\n';
}
