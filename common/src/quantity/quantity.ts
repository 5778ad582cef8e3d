// Kubernetes resource quantities ("256Mi", "1G", "500m", "1e3"), parsed exactly with
// bigint arithmetic: binary floats would turn "0.1" CPUs into 99 millicores. The one
// parser the controller (validation, placement) and the agents (runc limits, emptyDir
// sizes) share, so the controller accepts exactly what an agent will later apply. Pure.
import { invalidArgument } from '../errors/errors.js';

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

// Kubernetes' grammar: an unsigned decimal number, then one suffix (binary SI, decimal SI
// or a decimal exponent). Signs are left out: no resource here may be negative.
const quantityPattern = /^(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

/** Examples of valid quantities, for messages that say what would be valid. */
export const quantityExamples = {
  bytes: '256Mi, 1G or 500000000',
  cpu: '500m, 0.5 or 2',
} as const;

/**
 * The quantity (surrounding blanks ignored) times `unit`, rounded up as Kubernetes'
 * Value() and MilliValue() do (so a limit is never lowered by rounding); undefined when
 * the text is not a quantity.
 */
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
    // A silly exponent ("1e999999") would allocate a huge bigint; no resource needs one.
    if (Math.abs(exponent) > 30) return undefined;
    if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
    else denominator *= 10n ** BigInt(-exponent);
  }
  return (numerator + denominator - 1n) / denominator;
}

function toSafeNumber(value: bigint, field: string, text: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalidArgument(`${field}: "${text}" is too large`, { field, value: text });
  }
  return Number(value);
}

/** A byte quantity ("256Mi", "1G", "512M", "500000000") → bytes, rounded up. */
export function parseByteQuantity(text: string, field: string): number {
  const value = scaledQuantity(text, 1n);
  if (value === undefined) {
    throw invalidArgument(`${field}: "${text}" is not a quantity; want e.g. ${quantityExamples.bytes}`, {
      field,
      value: text,
    });
  }
  return toSafeNumber(value, field, text);
}

/** A CPU quantity ("500m", "0.5", "2") → millicores, rounded up. */
export function parseCpuMillis(text: string, field: string): number {
  const value = scaledQuantity(text, 1000n);
  if (value === undefined) {
    throw invalidArgument(`${field}: "${text}" is not a CPU quantity; want e.g. ${quantityExamples.cpu}`, {
      field,
      value: text,
    });
  }
  return toSafeNumber(value, field, text);
}
