// The figures a benchmark prints: summary statistics of a series of timings and the table
// that sets each tool next to the baseline measured in the same run. Pure, no I/O.

export interface Summary {
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  p90Ms: number;
}

/** A named series of timings (ms), one per run. */
export interface Series {
  name: string;
  runsMs: number[];
}

/** The value below which p percent of the sorted samples lie (nearest rank). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new RangeError('percentile of an empty series');
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile ${p} is not in (0, 100]`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** The middle sample, or the mean of the two middle ones for an even count. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new RangeError('median of an empty series');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function summarize(samples: readonly number[]): Summary {
  return {
    runs: samples.length,
    medianMs: median(samples),
    minMs: Math.min(...samples),
    maxMs: Math.max(...samples),
    p90Ms: percentile(samples, 90),
  };
}

const round = (ms: number): string => ms.toFixed(0);

/**
 * A Markdown table: tool, median, min, max, p90 and the median's ratio to the baseline's
 * median (the row named baseline), then each tool's raw runs.
 */
export function formatTable(series: readonly Series[], baseline: string): string {
  const base = series.find((s) => s.name === baseline);
  const baseMedian = base !== undefined && base.runsMs.length > 0 ? median(base.runsMs) : undefined;
  const rows = series
    .filter((s) => s.runsMs.length > 0)
    .map((s) => {
      const sum = summarize(s.runsMs);
      const ratio =
        baseMedian !== undefined && baseMedian > 0 ? (sum.medianMs / baseMedian).toFixed(2) : 'n/a';
      return [s.name, round(sum.medianMs), round(sum.minMs), round(sum.maxMs), round(sum.p90Ms), ratio];
    });
  const header = ['tool', 'median ms', 'min ms', 'max ms', 'p90 ms', `÷ ${baseline} median`];
  const lines = [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`);
  const raw = series
    .filter((s) => s.runsMs.length > 0)
    .map((s) => `- ${s.name}: ${s.runsMs.map(round).join(', ')}`);
  return [...lines, '', 'Raw runs (ms):', ...raw].join('\n');
}
