// Checks a Kubernetes label selector ("env=prod,tier!=web,gpu,zone in (a,b)") before it
// is sent, so a typo is a usage error that shows the valid forms, not a server error.

const namePart = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const prefixPart = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const selectorForms =
  'key, !key, key=value, key==value, key!=value, key in (v1,v2), key notin (v1,v2)';

function checkKey(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !prefixPart.test(prefix))) {
    return `label key prefix "${prefix}" must be a DNS subdomain`;
  }
  if (name.length > 63 || !namePart.test(name)) {
    return `label key "${key}" must be at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit`;
  }
  return undefined;
}

function checkValue(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !namePart.test(value)) {
    return `label value "${value}" must be empty or at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Splits on commas outside parentheses. */
function terms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const ch = selector[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  out.push(selector.slice(start));
  return out.map((t) => t.trim());
}

/** Undefined when the selector is valid, else why not. The empty selector matches everything. */
export function checkLabelSelector(selector: string): string | undefined {
  if (selector.trim() === '') return undefined;
  for (const term of terms(selector)) {
    if (term === '') return 'has an empty term';
    const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(term);
    if (set) {
      const values = (set[3] ?? '').split(',').map((v) => v.trim());
      const problem = checkKey(set[1] ?? '') ?? values.map(checkValue).find((p) => p !== undefined);
      if (problem) return problem;
      continue;
    }
    const compare = /^([^=!\s]+)\s*(==|!=|=)\s*(.*)$/.exec(term);
    if (compare) {
      const problem = checkKey(compare[1] ?? '') ?? checkValue(compare[3] ?? '');
      if (problem) return problem;
      continue;
    }
    const exists = /^(!?)\s*(\S+)$/.exec(term);
    if (exists) {
      const problem = checkKey(exists[2] ?? '');
      if (problem) return problem;
      continue;
    }
    return `term "${term}" has none of the valid forms`;
  }
  return undefined;
}
