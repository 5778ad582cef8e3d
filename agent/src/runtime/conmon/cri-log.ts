// The CRI log format conmon writes (k8s-file): one line per write,
// "<RFC 3339 time> <stdout|stderr> <P|F> <text>". P marks a partial line that the next
// lines of the same stream continue until one marked F. Pure functions only.

export type LogStream = 'stdout' | 'stderr';

/** One line of the file as written. */
export interface CriLogLine {
  /** The timestamp as written (conmon writes "+00:00", the kubelet "Z"). */
  time: string;
  /** Milliseconds since the epoch (nanoseconds are in time). */
  timeMs: number;
  stream: LogStream;
  partial: boolean;
  text: string;
}

/** One whole line of the container's output, partial pieces joined. */
export interface LogEntry {
  /** The time of the line's first piece. */
  time: string;
  timeMs: number;
  stream: LogStream;
  text: string;
}

const linePattern =
  /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) (stdout|stderr) ([PF])(?: (.*))?$/s;

/** Parses one line (without its newline); undefined when it is not a CRI log line. */
export function parseCriLine(line: string): CriLogLine | undefined {
  const match = linePattern.exec(line);
  if (match === null) return undefined;
  const [, time = '', stream, flag, text = ''] = match;
  // Date keeps milliseconds only; drop the digits beyond them rather than mis-round.
  const timeMs = Date.parse(time.replace(/(\.\d{3})\d+/, '$1'));
  if (Number.isNaN(timeMs)) return undefined;
  return { time, timeMs, stream: stream === 'stderr' ? 'stderr' : 'stdout', partial: flag === 'P', text };
}

/**
 * Joins partial lines per stream. A partial run still open at the end is held back in
 * pending (the next read may complete it) unless flush is set.
 */
export class CriAssembler {
  private readonly pending = new Map<LogStream, { first: CriLogLine; text: string }>();

  push(line: CriLogLine): LogEntry | undefined {
    const open = this.pending.get(line.stream);
    if (line.partial) {
      if (open === undefined) this.pending.set(line.stream, { first: line, text: line.text });
      else open.text += line.text;
      return undefined;
    }
    this.pending.delete(line.stream);
    const first = open?.first ?? line;
    return {
      time: first.time,
      timeMs: first.timeMs,
      stream: line.stream,
      text: (open?.text ?? '') + line.text,
    };
  }

  /** Entries of the partial runs not finished yet (e.g. the container exited mid-line). */
  flush(): LogEntry[] {
    const out = [...this.pending.values()].map(({ first, text }) => ({
      time: first.time,
      timeMs: first.timeMs,
      stream: first.stream,
      text,
    }));
    this.pending.clear();
    return out;
  }
}

/** A whole file's text → its entries; lines that are not CRI lines are skipped. */
export function parseCriLog(text: string, options: { flush?: boolean } = {}): LogEntry[] {
  const assembler = new CriAssembler();
  const entries: LogEntry[] = [];
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    const line = parseCriLine(raw);
    if (line === undefined) continue;
    const entry = assembler.push(line);
    if (entry !== undefined) entries.push(entry);
  }
  if (options.flush ?? true) entries.push(...assembler.flush());
  return entries;
}

/** The last n entries (all when n is undefined; none when 0). */
export function tailEntries(entries: readonly LogEntry[], n: number | undefined): LogEntry[] {
  if (n === undefined) return [...entries];
  return n <= 0 ? [] : entries.slice(-n);
}
