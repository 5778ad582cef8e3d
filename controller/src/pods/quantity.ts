// Kubernetes resource quantities ("256Mi", "1G", "500m", "1e3"), parsed exactly with
// bigint arithmetic, as the agent parses them (agent/src/runtime/spec/quantity.ts): the
// controller accepts exactly what the agent will later apply. Pure.

const binarySuffixes: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};

const decimalExponents: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

// An unsigned decimal number, then one suffix (binary SI, decimal SI or a decimal exponent).
const quantityPattern = /^(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

/** The quantity times unit, rounded up; undefined when the text is not a quantity. */
export function scaledQuantity(text: string, unit: bigint): bigint | undefined {
  const match = quantityPattern.exec(text.trim());
  if (!match) return undefined;
  const [whole = '', fraction = ''] = (match[1] ?? '').split('.');
  const suffix = match[2] ?? '';
  let numerator = BigInt(`${whole}${fraction}` || '0') * unit;
  let denominator = 10n ** BigInt(fraction.length);
  const binary = binarySuffixes[suffix];
  if (binary !== undefined) numerator *= binary;
  else {
    const exponent = /^[eE]/.test(suffix) ? Number(suffix.slice(1)) : (decimalExponents[suffix] ?? 0);
    if (Math.abs(exponent) > 30) return undefined;
    if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
    else denominator *= 10n ** BigInt(-exponent);
  }
  return (numerator + denominator - 1n) / denominator;
}

/** The resources the controller understands, with the unit their amounts are counted in. */
export const resourceUnits = {
  cpu: 1000n, // millicores
  memory: 1n, // bytes
  'ephemeral-storage': 1n, // bytes
} as const;

export type ResourceName = keyof typeof resourceUnits;

export const resourceNames = Object.keys(resourceUnits) as ResourceName[];

export function isResourceName(name: string): name is ResourceName {
  return Object.hasOwn(resourceUnits, name);
}

/** An amount of a known resource in its unit (millicores or bytes); undefined when malformed. */
export function resourceAmount(name: ResourceName, text: string): bigint | undefined {
  return scaledQuantity(text, resourceUnits[name]);
}

/** "500m" of cpu, "256Mi" of memory, for messages. */
export function formatAmount(name: ResourceName | 'pods', amount: bigint): string {
  if (name === 'cpu') return amount % 1000n === 0n ? String(amount / 1000n) : `${amount}m`;
  if (name === 'pods') return String(amount);
  for (const [suffix, size] of [
    ['Gi', 1n << 30n],
    ['Mi', 1n << 20n],
    ['Ki', 1n << 10n],
  ] as const) {
    if (amount >= size && amount % size === 0n) return `${amount / size}${suffix}`;
  }
  return String(amount);
}
