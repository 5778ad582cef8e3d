// Kubernetes resource quantities as the controller counts them. The parser is
// @flotilla/common's, the one the agents use too: the controller accepts exactly what an
// agent will later apply. Pure.
import { scaledQuantity } from '@flotilla/common';

export { scaledQuantity };

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
