// Processes by PID, and the checks that make sure a PID is still the process we started
// before we signal it: a recorded PID may have been reused by something else.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** True while the process exists and is not a zombie. */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The state follows the parenthesised command name, which may itself hold spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export async function readCmdline(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const args = raw.split('\0');
    if (args[args.length - 1] === '') args.pop();
    return args.length > 0 ? args : undefined;
  } catch {
    return undefined;
  }
}

/** The process runs the recorded argv: same executable name, same arguments. */
export function cmdlineMatches(cmdline: readonly string[], expected: readonly string[]): boolean {
  if (cmdline.length !== expected.length || expected.length === 0) return false;
  if (basename(cmdline[0] ?? '') !== basename(expected[0] ?? '')) return false;
  return cmdline.every((arg, i) => i === 0 || arg === expected[i]);
}

export const supervisorScript = 'supervisor.js';

/** The process is a local-cluster supervisor for exactly this data directory. */
export function isSupervisorCmdline(cmdline: readonly string[], dataDir: string): boolean {
  const script = cmdline[1] ?? '';
  if (!script.endsWith(`/local/${supervisorScript}`)) return false;
  const at = cmdline.indexOf('--data-dir');
  return at >= 0 && cmdline[at + 1] === dataDir;
}

export async function isOurSupervisor(pid: number, dataDir: string): Promise<boolean> {
  const cmdline = await readCmdline(pid);
  return cmdline !== undefined && isSupervisorCmdline(cmdline, dataDir) && (await isAlive(pid));
}

export async function isOurProcess(pid: number, command: readonly string[]): Promise<boolean> {
  const cmdline = await readCmdline(pid);
  return cmdline !== undefined && cmdlineMatches(cmdline, command) && (await isAlive(pid));
}

export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Waits until none of the PIDs is alive; returns those still alive at the deadline. */
export async function waitForExit(
  pids: readonly number[],
  timeoutMs: number,
  pollMs = 100,
): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive: number[] = [];
    for (const pid of pids) if (await isAlive(pid)) alive.push(pid);
    if (alive.length === 0 || Date.now() >= deadline) return alive;
    await sleep(pollMs);
  }
}

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Waits, at most timeoutMs, until exited processes are also reaped. An orphan (the
 * supervisor, once `deploy up` has returned) is reaped by PID 1, which some inits do
 * only now and then; until then its PID still answers kill(pid, 0).
 */
export async function waitForReaped(pids: readonly number[], timeoutMs: number, pollMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(exists) && Date.now() < deadline) await sleep(pollMs);
}
