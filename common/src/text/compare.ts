// Comparators for sort() that do not depend on the locale. String.prototype.localeCompare
// (and Intl.Collator) make V8 load ICU's collation data on first use: ~3 MB more RSS in
// the agent, for orders that only need to be deterministic (names, IDs, addresses).

/** By UTF-16 code units, as Array.prototype.sort's default: 'a-b' < 'a.b' < 'ab' < 'b'. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const isDigit = (code: number): boolean => code >= 48 && code <= 57;

/**
 * As compareText, but a run of digits compares as a number against a run of digits at the
 * same place: '10.0.0.2:80' < '10.0.0.10:80', 'pod-9' < 'pod-10'. Runs of equal value
 * ('07' and '7') are then ordered by length, fewer leading zeros first, so that distinct
 * strings never compare equal.
 */
export function compareNatural(a: string, b: string): number {
  let i = 0;
  let j = 0;
  let zeros = 0;
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    if (isDigit(ca) && isDigit(cb)) {
      const si = i;
      const sj = j;
      while (i < a.length && a.charCodeAt(i) === 48) i++;
      while (j < b.length && b.charCodeAt(j) === 48) j++;
      const vi = i;
      const vj = j;
      while (i < a.length && isDigit(a.charCodeAt(i))) i++;
      while (j < b.length && isDigit(b.charCodeAt(j))) j++;
      const lenA = i - vi;
      const lenB = j - vj;
      if (lenA !== lenB) return lenA - lenB;
      for (let k = 0; k < lenA; k++) {
        const d = a.charCodeAt(vi + k) - b.charCodeAt(vj + k);
        if (d !== 0) return d;
      }
      if (zeros === 0) zeros = vi - si - (vj - sj);
      continue;
    }
    if (ca !== cb) return ca - cb;
    i++;
    j++;
  }
  return a.length - i - (b.length - j) || zeros;
}
