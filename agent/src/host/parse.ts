// Pure parsers for the files and commands the host probe reads.
import type { CpuTimes, MemoryInfo } from './types.js';

/** /proc/meminfo: "MemTotal:  24563716 kB" lines. MemAvailable falls back to MemFree. */
export function parseMeminfo(text: string): MemoryInfo {
  const kib = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)(?:\s+kB)?$/.exec(line.trim());
    if (m?.[1] && m[2]) kib.set(m[1], Number(m[2]));
  }
  const total = kib.get('MemTotal') ?? 0;
  const available = kib.get('MemAvailable') ?? kib.get('MemFree') ?? 0;
  return { totalBytes: total * 1024, availableBytes: available * 1024 };
}

/** /etc/os-release's PRETTY_NAME (quotes removed), else NAME, else "Linux". */
export function parseOsRelease(text: string): string {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) fields.set(m[1], m[2].replace(/^(["'])(.*)\1$/, '$2'));
  }
  return fields.get('PRETTY_NAME') || fields.get('NAME') || 'Linux';
}

/** `runc --version`'s first line, "runc version 1.1.5+ds1". */
export function parseRuncVersion(output: string): string | undefined {
  return /^runc version (\S+)/m.exec(output)?.[1];
}

/** The aggregate "cpu" line of /proc/stat; idle and iowait count as not busy. */
export function parseProcStat(text: string): CpuTimes | undefined {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const total = ticks.slice(0, 8).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busy: total - idle, total };
}

/** Node-wide CPU use between two samples, in millicores. */
export function cpuMillicores(before: CpuTimes, after: CpuTimes, cpuCount: number): number {
  const total = after.total - before.total;
  if (total <= 0) return 0;
  const busy = Math.max(0, after.busy - before.busy);
  return Math.round((busy / total) * cpuCount * 1000);
}
