// Kubernetes' structured label selector (matchLabels and matchExpressions), as Deployments
// and ReplicaSets carry it: its validation and whether it selects a set of labels. Pure.
import type { LabelSelector } from '@flotilla/proto';
import type { FieldProblems } from '@flotilla/common';
import { validateLabelKey, validateLabelValue } from '../labels/labels.js';

export const selectorOperators = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/** Adds every problem of selector under field; an empty selector is one. */
export function checkLabelSelector(
  p: FieldProblems,
  field: string,
  selector: LabelSelector | undefined,
): void {
  if (
    !selector ||
    (Object.keys(selector.matchLabels).length === 0 && selector.matchExpressions.length === 0)
  ) {
    p.missing(field, "is required: matchLabels or matchExpressions that select the template's labels");
    return;
  }
  for (const [key, value] of Object.entries(selector.matchLabels)) {
    const keyWhy = validateLabelKey(key);
    if (keyWhy) p.add(`${field}.matchLabels`, key, `is not a valid label key: ${keyWhy}`);
    const valueWhy = validateLabelValue(value);
    if (valueWhy) p.add(`${field}.matchLabels.${key}`, value, `is not a valid label value: ${valueWhy}`);
  }
  selector.matchExpressions.forEach((req, i) => {
    const f = `${field}.matchExpressions[${i}]`;
    const keyWhy = validateLabelKey(req.key);
    if (keyWhy) p.add(`${f}.key`, req.key, `is not a valid label key: ${keyWhy}`);
    if (!(selectorOperators as readonly string[]).includes(req.operator)) {
      p.add(
        `${f}.operator`,
        req.operator,
        `must be one of ${selectorOperators.map((o) => `"${o}"`).join(', ')}`,
      );
      return;
    }
    const needsValues = req.operator === 'In' || req.operator === 'NotIn';
    if (needsValues && req.values.length === 0) {
      p.missing(`${f}.values`, `must have at least one value for operator ${req.operator}`);
    }
    if (!needsValues && req.values.length > 0) {
      p.add(`${f}.values`, req.values, `must be empty for operator ${req.operator}`);
    }
    req.values.forEach((v, j) => {
      const why = validateLabelValue(v);
      if (why) p.add(`${f}.values[${j}]`, v, `is not a valid label value: ${why}`);
    });
  });
}

/** Whether selector selects labels; an empty (or absent) selector selects nothing, as for Deployments. */
export function selectorMatches(
  selector: LabelSelector | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return false;
  const pairs = Object.entries(selector.matchLabels);
  if (pairs.length === 0 && selector.matchExpressions.length === 0) return false;
  if (!pairs.every(([k, v]) => labels[k] === v)) return false;
  return selector.matchExpressions.every((req) => {
    const has = Object.hasOwn(labels, req.key);
    const value = labels[req.key] ?? '';
    switch (req.operator) {
      case 'In':
        return has && req.values.includes(value);
      case 'NotIn':
        return !has || !req.values.includes(value);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      default:
        return false;
    }
  });
}
