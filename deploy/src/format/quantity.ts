// Kubernetes resource quantities ("4", "3500m", "24563Mi", "1.5G", "1e3") and their
// short human form for tables.

const suffixes: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The quantity in base units (bytes, cores), or undefined when it is not one. */
export function parseQuantity(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(
    text.trim(),
  );
  if (!match) return undefined;
  const base = Number(match[1]);
  if (match[2]) return base * 10 ** Number(match[2].slice(1));
  return base * (suffixes[match[3] ?? ''] ?? 1);
}

const binaryUnits = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'] as const;

/** Bytes in binary units with at most one decimal: 25125558272 -> "23.4Gi". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  const round = (v: number, u: number): number => (u === 0 ? Math.round(v) : Math.round(v * 10) / 10);
  while (Math.abs(round(value, unit)) >= 1024 && unit < binaryUnits.length - 1) {
    value /= 1024;
    unit++;
  }
  const rounded = round(value, unit);
  const text = Number.isInteger(rounded) ? String(rounded) : rounded.toFixed(1);
  return `${text}${binaryUnits[unit]}`;
}

/** CPU as whole cores when it is whole ("4"), else millicores ("3500m"). */
export function formatCpu(cores: number): string {
  if (Number.isInteger(cores)) return String(cores);
  return `${Math.round(cores * 1000)}m`;
}

export function formatMemoryQuantity(text: string | undefined): string | undefined {
  const bytes = parseQuantity(text);
  return bytes === undefined ? text : formatBytes(bytes);
}

export function formatCpuQuantity(text: string | undefined): string | undefined {
  const cores = parseQuantity(text);
  return cores === undefined ? text : formatCpu(cores);
}
