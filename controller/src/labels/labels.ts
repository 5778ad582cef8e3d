// Kubernetes' rules for label keys and values, and label selectors over them:
// "a=b", "a==b", "a!=b", "a" (exists), "!a" (does not exist), comma-separated, all must hold.
import { invalidArgument, validateDnsSubdomain } from '@flotilla/common';

const labelName = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;

/** Why a label key is invalid, or undefined when it is valid: [prefix/]name. */
export function validateLabelKey(key: string): string | undefined {
  const slash = key.indexOf('/');
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    const why = validateDnsSubdomain(prefix);
    if (why) return `prefix "${prefix}" ${why}`;
  }
  if (name.length === 0) return 'name part must not be empty';
  if (name.length > 63) return 'name part must be at most 63 characters';
  if (!labelName.test(name)) {
    return 'name part must consist of letters, digits, "-", "_" and ".", and start and end with a letter or digit';
  }
  return undefined;
}

/** Why a label value is invalid, or undefined: empty, or up to 63 characters like a name. */
export function validateLabelValue(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63) return 'must be at most 63 characters';
  if (!labelName.test(value)) {
    return 'must consist of letters, digits, "-", "_" and ".", and start and end with a letter or digit';
  }
  return undefined;
}

export type Requirement =
  | { op: 'equals'; key: string; value: string }
  | { op: 'notEquals'; key: string; value: string }
  | { op: 'exists'; key: string }
  | { op: 'notExists'; key: string };

export type LabelSelector = Requirement[];

/** Parses a selector; an empty one selects everything. Throws InvalidArgument naming it. */
export function parseLabelSelector(selector: string): LabelSelector {
  const fail = (why: string): never => {
    throw invalidArgument(
      `label selector "${selector}" is invalid: ${why}; valid forms are k=v, k!=v, k and !k, comma-separated`,
      { field: 'labelSelector', value: selector },
    );
  };
  const out: LabelSelector = [];
  if (selector.trim() === '') return out;
  for (const raw of selector.split(',')) {
    const part = raw.trim();
    if (part === '') fail('it has an empty requirement');
    let req: Requirement;
    const ne = part.indexOf('!=');
    const eq = part.indexOf('=');
    if (ne >= 0) {
      req = { op: 'notEquals', key: part.slice(0, ne).trim(), value: part.slice(ne + 2).trim() };
    } else if (eq >= 0) {
      const value = part.slice(part.startsWith('==', eq) ? eq + 2 : eq + 1).trim();
      req = { op: 'equals', key: part.slice(0, eq).trim(), value };
    } else if (part.startsWith('!')) {
      req = { op: 'notExists', key: part.slice(1).trim() };
    } else {
      req = { op: 'exists', key: part };
    }
    const keyWhy = validateLabelKey(req.key);
    if (keyWhy) fail(`key "${req.key}": ${keyWhy}`);
    if (req.op === 'equals' || req.op === 'notEquals') {
      const valueWhy = validateLabelValue(req.value);
      if (valueWhy) fail(`value "${req.value}" of key "${req.key}": ${valueWhy}`);
    }
    out.push(req);
  }
  return out;
}

export function matchesLabels(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return selector.every((req) => {
    const has = Object.hasOwn(l, req.key);
    switch (req.op) {
      case 'equals':
        return has && l[req.key] === req.value;
      case 'notEquals':
        return !has || l[req.key] !== req.value;
      case 'exists':
        return has;
      case 'notExists':
        return !has;
    }
  });
}
