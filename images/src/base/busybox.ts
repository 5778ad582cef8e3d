// The `busybox` base image the examples and tests build on, made locally from Debian's
// busybox-static so that nothing comes from the internet: /bin/busybox, a symlink per
// applet, a minimal /etc and the directories a container expects. Everything is
// deterministic (fixed content, modes, owners and mtimes, listed in sorted order), so the
// layer made from it has the same digest on every build with the same busybox binary.
import { execFile } from 'node:child_process';
import { chmod, copyFile, lchown, lutimes, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { failedPrecondition, invalidArgument } from '@flotilla/common';
import { defaultPathEnv } from '../build/plan.js';
import { hostPlatform } from '../registry/platform.js';
import type { Digest, ImageConfig, Platform } from '../types.js';

/** The mtime (seconds since the epoch) of every file, and the image's creation time. */
export const busyboxEpoch = 0;
const created = new Date(busyboxEpoch * 1000).toISOString();

export interface BusyboxEntry {
  /** Relative to the rootfs, no leading "/"; "." for the root itself. */
  path: string;
  type: 'dir' | 'file' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  linkTarget?: string;
}

export interface BusyboxRootfsOptions {
  /** The static busybox binary; default /bin/busybox (Debian's busybox-static). */
  busybox?: string;
}

const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');
const group = ['root:x:0:', 'nogroup:x:65534:', 'nobody:x:65534:', ''].join('\n');

const directories: [string, number][] = [
  ['.', 0o755],
  ['bin', 0o755],
  ['dev', 0o755],
  ['etc', 0o755],
  ['proc', 0o555],
  ['root', 0o700],
  ['sys', 0o555],
  ['tmp', 0o1777],
];

const byPath = (a: BusyboxEntry, b: BusyboxEntry): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** The applets a busybox binary provides (`busybox --list`), sorted, without "busybox". */
export async function busyboxApplets(busybox = '/bin/busybox'): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(busybox, ['--list']));
  } catch (cause) {
    throw failedPrecondition(
      `cannot list the applets of ${busybox}: install Debian's busybox-static (${String(cause)})`,
      {
        object: `file/${busybox}`,
      },
    );
  }
  const applets = stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'busybox');
  for (const applet of applets) {
    if (!/^[A-Za-z0-9_.[\]-]+$/.test(applet)) {
      throw failedPrecondition(
        `${busybox} --list printed an unexpected applet name ${JSON.stringify(applet)}`,
        {
          object: `file/${busybox}`,
          value: applet,
        },
      );
    }
  }
  return [...new Set(applets)].sort();
}

/**
 * Builds the busybox root filesystem in dir (created if missing, must be empty) and
 * returns its entries sorted by path. Owners are set to 0:0 when running as root.
 */
export async function busyboxRootfs(
  dir: string,
  options: BusyboxRootfsOptions = {},
): Promise<BusyboxEntry[]> {
  const busybox = options.busybox ?? '/bin/busybox';
  const applets = await busyboxApplets(busybox);
  await mkdir(dir, { recursive: true });
  const existing = await readdir(dir);
  if (existing.length > 0) {
    throw invalidArgument(`${dir} is not empty: busyboxRootfs builds into an empty directory`, {
      object: `dir/${dir}`,
      value: existing.slice(0, 5),
    });
  }

  const entries: BusyboxEntry[] = [];
  const add = (path: string, type: BusyboxEntry['type'], mode: number, linkTarget?: string): void => {
    entries.push({ path, type, mode, uid: 0, gid: 0, ...(linkTarget !== undefined ? { linkTarget } : {}) });
  };
  for (const [path, mode] of directories) add(path, 'dir', mode);
  add('bin/busybox', 'file', 0o755);
  add('etc/group', 'file', 0o644);
  add('etc/passwd', 'file', 0o644);
  for (const applet of applets) add(`bin/${applet}`, 'symlink', 0o777, 'busybox');
  entries.sort(byPath);

  const contents: Record<string, string> = { 'etc/passwd': passwd, 'etc/group': group };
  const asRoot = process.getuid?.() === 0;
  for (const entry of entries) {
    const full = join(dir, entry.path);
    if (entry.type === 'dir') {
      if (entry.path !== '.') await mkdir(full);
      await chmod(full, entry.mode);
    } else if (entry.type === 'file') {
      const text = contents[entry.path];
      if (text !== undefined) await writeFile(full, text);
      else await copyFile(busybox, full);
      await chmod(full, entry.mode);
    } else await symlink(entry.linkTarget ?? '', full);
    if (asRoot) await lchown(full, entry.uid, entry.gid);
  }
  // Times last, deepest first: creating an entry changes its directory's mtime.
  for (const entry of [...entries].reverse()) {
    await lutimes(join(dir, entry.path), busyboxEpoch, busyboxEpoch);
  }
  return entries;
}

export interface BusyboxConfigOptions {
  /** The diff ID of the layer made from busyboxRootfs (the caller tars and hashes it). */
  diffIds?: Digest[];
  platform?: Platform;
}

/** The image config of the busybox base: `sh` by default, the usual PATH, the host platform. */
export function busyboxImageConfig(options: BusyboxConfigOptions = {}): ImageConfig {
  const platform = options.platform ?? hostPlatform();
  return {
    created,
    architecture: platform.architecture,
    os: platform.os,
    config: { Env: [`PATH=${defaultPathEnv}`], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [...(options.diffIds ?? [])] },
    history: [
      { created, created_by: "busybox base: Debian's busybox-static, an applet symlink each, minimal /etc" },
    ],
  };
}
