// Labels as Kubernetes validates them, so that selectors written for Kubernetes nodes
// read the same here.
import { invalidArgument, validateDnsSubdomain } from '@flotilla/common';

const namePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** Why `key` is not a valid label key, or undefined when it is. */
export function validateLabelKey(key: string): string | undefined {
  const slash = key.indexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    const problem = validateDnsSubdomain(prefix);
    if (problem) return `its prefix "${prefix}" ${problem}`;
  }
  if (name.length === 0) return 'its name part must not be empty';
  if (name.length > 63) return 'its name part must be at most 63 characters';
  if (!namePart.test(name)) {
    return 'its name part must consist of letters, digits, "-", "_" and ".", and start and end with a letter or digit';
  }
  return undefined;
}

/** Why `value` is not a valid label value, or undefined when it is (empty is valid). */
export function validateLabelValue(value: string): string | undefined {
  if (value.length > 63) return 'must be at most 63 characters';
  if (value !== '' && !namePart.test(value)) {
    return 'must be empty or consist of letters, digits, "-", "_" and ".", and start and end with a letter or digit';
  }
  return undefined;
}

/** "k=v,k2=v2" into a map; every key and value validated, duplicates refused. */
export function parseLabels(text: string, field = 'labels'): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text.trim() === '') return labels;
  for (const item of text.split(',')) {
    const pair = item.trim();
    const eq = pair.indexOf('=');
    if (eq < 0) {
      throw invalidArgument(`${field}: "${pair}" is not KEY=VALUE; want e.g. zone=a,disk=ssd`, {
        field,
        value: text,
      });
    }
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    const keyProblem = validateLabelKey(key);
    if (keyProblem)
      throw invalidArgument(`${field}: label key "${key}" is not valid: ${keyProblem}`, {
        field,
        value: text,
      });
    const valueProblem = validateLabelValue(value);
    if (valueProblem) {
      throw invalidArgument(`${field}: value "${value}" of label ${key} is not valid: it ${valueProblem}`, {
        field,
        value: text,
      });
    }
    if (key in labels) throw invalidArgument(`${field}: label ${key} is given twice`, { field, value: text });
    labels[key] = value;
  }
  return labels;
}
