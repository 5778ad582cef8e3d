// Mounting a MountSpec (a snapshotter's rootfs description) and unmounting it, through
// mount(8) and umount(8) because Node has no mount syscall; and the mount table, to find
// what a crashed build left mounted.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { FlotillaError } from '@flotilla/common';
import type { MountSpec } from '../types.js';

/** Runs a command to its end: its exit code and what it said on stderr. */
export type MountCommandRunner = (
  command: string,
  args: string[],
) => Promise<{ code: number | null; stderr: string }>;

function run(command: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

/** The mount(8) invocations for a spec at target (a bind mount made read-only takes two). */
export function mountCommands(spec: MountSpec, target: string): string[][] {
  if (spec.type === 'bind') {
    const recursive = spec.options.includes('rbind');
    const commands = [[recursive ? '--rbind' : '--bind', spec.source, target]];
    if (spec.options.includes('ro')) commands.push(['-o', 'remount,bind,ro', target]);
    return commands;
  }
  const options = spec.options.join(',');
  return [['-t', spec.type, ...(options !== '' ? ['-o', options] : []), spec.source, target]];
}

/** Mounts spec at target with mount(8), run from this process or by runCommand. */
export async function mountAt(
  spec: MountSpec,
  target: string,
  runCommand: MountCommandRunner = run,
): Promise<void> {
  const commands = mountCommands(spec, target);
  for (const [i, args] of commands.entries()) {
    const { code, stderr } = await runCommand('mount', args);
    if (code !== 0) {
      if (i > 0) await unmount(target, runCommand).catch(() => undefined);
      throw new FlotillaError(
        'Internal',
        `mounting the ${spec.type} rootfs at ${target} failed: ${stderr.trim()}`,
        {
          object: `mount/${target}`,
          value: args,
        },
      );
    }
  }
}

/** Unmounts target; a busy mount is detached lazily so nothing stays in the table. */
export async function unmount(target: string, runCommand: MountCommandRunner = run): Promise<void> {
  const first = await runCommand('umount', [target]);
  if (first.code === 0) return;
  if (/not mounted|no mount point/i.test(first.stderr)) return;
  const lazy = await runCommand('umount', ['-l', target]);
  if (lazy.code !== 0 && !/not mounted|no mount point/i.test(lazy.stderr)) {
    throw new FlotillaError('Internal', `unmounting ${target} failed: ${first.stderr.trim()}`, {
      object: `mount/${target}`,
    });
  }
}

/** Mount points in /proc/self/mountinfo at or below dir, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const points = text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))))
    .filter((p) => p === dir || p.startsWith(prefix));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}
