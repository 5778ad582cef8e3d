// The pure half of the Agent service: checking what a request asks for, and turning log
// entries into wire messages. No I/O here.
import { invalidArgument } from '@flotilla/common';
import type { AttachStart, ExecStart, LogsResponse, StreamRequest } from '@flotilla/proto';
import type { LogEntry } from '../runtime/conmon/cri-log.js';

type WireLogEntry = LogsResponse['entries'][number];

/** sinceTime → epoch milliseconds; undefined when empty. Throws on anything not RFC 3339. */
export function parseSinceTime(value: string): number | undefined {
  if (value === '') return undefined;
  const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i;
  const ms = rfc3339.test(value) ? Date.parse(value.replace(/(\.\d{3})\d+/, '$1')) : NaN;
  if (Number.isNaN(ms)) {
    throw invalidArgument(
      `sinceTime ${JSON.stringify(value)} is not an RFC 3339 time; want e.g. 2026-01-02T15:04:05Z`,
      { field: 'sinceTime', value },
    );
  }
  return ms;
}

/** tailLines: unset or a whole number ≥ 0. */
export function parseTailLines(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 0) {
    throw invalidArgument(`tailLines ${value} must be a whole number ≥ 0 (or unset for all lines)`, {
      field: 'tailLines',
      value,
    });
  }
  return value;
}

export function toWireEntry(entry: LogEntry): WireLogEntry {
  return { time: entry.time, stream: entry.stream, content: Buffer.from(entry.text, 'utf8') };
}

/** The first frame of an Exec call, checked. */
export function execStartOf(frame: StreamRequest | undefined): ExecStart {
  const start = frame?.exec;
  if (start === undefined) {
    throw invalidArgument('the first frame of Exec must carry exec (an ExecStart)', { field: 'exec' });
  }
  requirePod(start);
  if (start.command.length === 0 || start.command[0] === '') {
    throw invalidArgument(
      `exec in pod ${start.namespace}/${start.pod} needs a command: exec.command is empty`,
      {
        object: `pod/${start.namespace}/${start.pod}`,
        field: 'exec.command',
      },
    );
  }
  return start;
}

/** The first frame of an Attach call, checked. */
export function attachStartOf(frame: StreamRequest | undefined): AttachStart {
  const start = frame?.attach;
  if (start === undefined) {
    throw invalidArgument('the first frame of Attach must carry attach (an AttachStart)', {
      field: 'attach',
    });
  }
  requirePod(start);
  return start;
}

export function requirePod(req: { namespace: string; pod: string }): void {
  if (req.namespace === '' || req.pod === '') {
    throw invalidArgument(
      `namespace and pod are required (got namespace ${JSON.stringify(req.namespace)}, pod ${JSON.stringify(req.pod)})`,
      { field: req.namespace === '' ? 'namespace' : 'pod' },
    );
  }
}

/** A terminal size the kernel and conmon accept (conmon rejects sizes above 1000). */
export function validSize(
  size: { rows: number; cols: number } | undefined,
): { rows: number; cols: number } | undefined {
  if (size === undefined || size.rows === 0 || size.cols === 0) return undefined;
  return { rows: Math.min(size.rows, 1000), cols: Math.min(size.cols, 1000) };
}
