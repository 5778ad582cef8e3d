// Flag value parsers. Each returns the parsed value or a reason that completes the
// sentence "must be …", so every error can name the flag, the value and what is valid.

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const unitMs: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Go-style durations ("90s", "1h30m", "500ms") plus days ("7d"), in milliseconds. */
export function parseDuration(text: string): Parsed<number> {
  const reason = 'a duration such as 30s, 5m, 1h30m or 7d (units ms, s, m, h, d)';
  const trimmed = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(trimmed)) return { ok: false, reason };
  let total = 0;
  for (const match of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    total += Number(match[1]) * (unitMs[match[2] ?? 's'] ?? 0);
  }
  if (total <= 0) return { ok: false, reason: 'a duration longer than zero, such as 30s or 5m' };
  return { ok: true, value: Math.round(total) };
}

/** Milliseconds as the shortest Go-style text: 90000 -> "1m30s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  let rest = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join('');
}

export function parseInteger(text: string, min: number, max: number): Parsed<number> {
  const reason = `an integer from ${min} to ${max}`;
  if (!/^-?\d+$/.test(text.trim())) return { ok: false, reason };
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) return { ok: false, reason };
  return { ok: true, value };
}

export function parsePort(text: string): Parsed<number> {
  const parsed = parseInteger(text, 1, 65535);
  return parsed.ok ? parsed : { ok: false, reason: 'a TCP port from 1 to 65535' };
}

export function parseEnum(text: string, values: readonly string[]): Parsed<string> {
  if (values.includes(text)) return { ok: true, value: text };
  return { ok: false, reason: `one of ${listOf(values)}` };
}

/** "a, b or c" */
export function listOf(values: readonly string[]): string {
  if (values.length <= 1) return values.join('');
  return `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
}
