// Kubernetes' IntOrString for maxSurge and maxUnavailable: "1" or "25%". Pure.

export type IntOrPercent = { type: 'int'; value: number } | { type: 'percent'; value: number };

/** undefined when text is neither a non-negative integer nor a percentage such as "25%". */
export function parseIntOrPercent(text: string): IntOrPercent | undefined {
  const m = /^(\d+)(%?)$/.exec(text.trim());
  if (!m) return undefined;
  const value = Number(m[1]);
  if (!Number.isSafeInteger(value)) return undefined;
  return m[2] === '%' ? { type: 'percent', value } : { type: 'int', value };
}

/**
 * The count a value stands for out of total: a percentage rounds up for maxSurge and down
 * for maxUnavailable, as Kubernetes does (roundUp says which).
 */
export function resolveIntOrPercent(value: IntOrPercent, total: number, roundUp: boolean): number {
  if (value.type === 'int') return value.value;
  const exact = (value.value * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}
