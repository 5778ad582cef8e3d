// Pure decisions about a container's state from what runc and conmon left on disk.
import { FlotillaError } from '@flotilla/common';
import type { ContainerState, ExitRecord, RuncEntry } from './types.js';

/** conmon's exit file holds the exit code as decimal text. */
export function parseExitFile(id: string, text: string): number {
  const trimmed = text.trim();
  if (!/^-?\d{1,4}$/.test(trimmed)) {
    throw new FlotillaError(
      'Internal',
      `exit file of container ${id} holds ${JSON.stringify(trimmed)}, not an exit code`,
      {
        object: `container/${id}`,
        field: 'exitFile',
        value: trimmed,
      },
    );
  }
  return Number(trimmed);
}

/** The Kubernetes reason of a terminated container. */
export function exitReason(exit: ExitRecord): 'Completed' | 'Error' | 'OOMKilled' {
  if (exit.oomKilled) return 'OOMKilled';
  return exit.exitCode === 0 ? 'Completed' : 'Error';
}

/**
 * One container's state. The exit file wins over runc: conmon writes it only after the
 * process ended, while runc may still say "running" for a moment (or nothing at all once
 * the container was deleted).
 */
export function decideState(
  id: string,
  runc: RuncEntry | undefined,
  exit: ExitRecord | undefined,
): ContainerState {
  if (exit !== undefined) return { status: 'exited', id, reason: exitReason(exit), ...exit };
  if (runc === undefined)
    return { status: 'unknown', id, reason: 'neither runc nor conmon knows this container' };
  switch (runc.status) {
    case 'created':
      return { status: 'created', id, pid: runc.pid };
    case 'running':
    case 'paused':
      return { status: 'running', id, pid: runc.pid, paused: runc.status === 'paused' };
    case 'stopped':
      // conmon writes the exit file right after reaping; until then the code is not known.
      return { status: 'unknown', id, reason: 'stopped, exit code not recorded by conmon (yet)' };
    default:
      return { status: 'unknown', id, reason: `runc reports status ${JSON.stringify(runc.status)}` };
  }
}

/**
 * Every container this runner knows: runc's list joined with the exit files, so exits
 * that happened while the agent was down are collected, once each, sorted by ID.
 */
export function joinStates(
  runc: readonly RuncEntry[],
  exits: ReadonlyMap<string, ExitRecord>,
): ContainerState[] {
  const byId = new Map(runc.map((e) => [e.id, e]));
  const ids = [...new Set([...byId.keys(), ...exits.keys()])].sort();
  return ids.map((id) => decideState(id, byId.get(id), exits.get(id)));
}

/** runc list --format json output → entries; null (no containers) is an empty list. */
export function parseRuncList(root: string, text: string): RuncEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.trim() === '' ? 'null' : text);
  } catch (cause) {
    throw new FlotillaError(
      'Internal',
      `runc list --root ${root} printed invalid JSON`,
      { object: root },
      { cause },
    );
  }
  if (parsed === null) return [];
  if (!Array.isArray(parsed)) {
    throw new FlotillaError('Internal', `runc list --root ${root} printed a ${typeof parsed}, not a list`, {
      object: root,
    });
  }
  const entries: RuncEntry[] = [];
  for (const item of parsed as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const { id, status, pid } = item as { id?: unknown; status?: unknown; pid?: unknown };
    if (typeof id !== 'string') continue;
    entries.push({
      id,
      status: typeof status === 'string' ? status : 'unknown',
      pid: typeof pid === 'number' ? pid : 0,
    });
  }
  return entries;
}
