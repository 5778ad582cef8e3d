// Whether a pod changed in more than its status: the question both sides of the
// assignment stream ask of each change. The controller leaves such changes out of a
// node's stream (most are the agent's own status reports coming back); the agent, for a
// change that still reaches it, keeps its plan under way. Pure.

/** The parts of a decoded pod (a ts-proto Pod) the comparison reads. */
export interface PodParts {
  apiVersion: string;
  kind: string;
  metadata?: object | undefined;
  spec?: object | undefined;
}

/**
 * Whether after differs from before in anything but the status and the resourceVersion
 * the write gave it: apiVersion, kind, spec, and metadata (labels, annotations,
 * deletionTimestamp, grace, uid…).
 */
export function changedBeyondStatus(before: PodParts, after: PodParts): boolean {
  if (before.apiVersion !== after.apiVersion || before.kind !== after.kind) return true;
  if (!sameData(before.spec, after.spec)) return true;
  return !sameData(before.metadata, after.metadata, 'resourceVersion');
}

/**
 * Deep equality of decoded protobuf messages (plain objects, arrays and scalars), leaving
 * out one key at the top; NaN counts as a change. util.isDeepStrictEqual, which also
 * weighs prototypes and descriptors, took several times as long per pod, and comparing
 * JSON texts encodes both pods first.
 */
function sameData(a: unknown, b: unknown, skipKey?: string): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let count = 0;
  for (const key in x) {
    if (!Object.hasOwn(x, key) || key === skipKey) continue;
    if (!Object.hasOwn(y, key) || !sameData(x[key], y[key])) return false;
    count++;
  }
  for (const key in y) if (Object.hasOwn(y, key) && key !== skipKey) count--;
  return count === 0;
}
