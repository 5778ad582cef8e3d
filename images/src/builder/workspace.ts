// A build's scratch space: <root>/build/<pid>-<random>/ holds its mounts, upper dirs,
// bundles and half-written layers. dispose() unmounts whatever is still mounted there and
// removes it all, whatever happened; a workspace left by a process that died (killed
// mid-build) is cleaned up by the next build that opens the same store.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, type Logger } from '@flotilla/common';
import { deleteContainer, type RuncOptions } from '../runc/runner.js';
import { mountAt, mountsUnder, unmount } from '../runc/mount.js';
import { rootfsMount } from '../snapshots/mounts.js';
import type { MountSpec, SnapshotInfo } from '../types.js';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** "<pid>-..." names (workspaces, container IDs) whose process is gone. */
export function ownerIsGone(name: string, self = process.pid): boolean {
  const pid = Number.parseInt(/^(?:build-)?(\d+)-/.exec(name)?.[1] ?? '', 10);
  return Number.isInteger(pid) && pid !== self && !pidAlive(pid);
}

export class BuildWorkspace {
  readonly dir: string;
  readonly id: string;
  readonly #log: Logger;
  readonly #mounts = new Set<string>();

  private constructor(dir: string, id: string, log: Logger) {
    this.dir = dir;
    this.id = id;
    this.#log = log;
  }

  /** Creates a workspace under <storeRoot>/build, first cleaning up after dead builds. */
  static async create(storeRoot: string, runc: RuncOptions, log: Logger): Promise<BuildWorkspace> {
    const parent = join(storeRoot, 'build');
    await mkdir(parent, { recursive: true, mode: 0o700 });
    await cleanStale(parent, runc, log);
    const id = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const dir = join(parent, id);
    await mkdir(dir, { mode: 0o700 });
    return new BuildWorkspace(dir, id, log);
  }

  /** A new empty directory inside the workspace. */
  tempDir(prefix: string): Promise<string> {
    return mkdtemp(join(this.dir, `${prefix}-`));
  }

  async mount(spec: MountSpec, target: string): Promise<void> {
    await mountAt(spec, target);
    this.#mounts.add(target);
  }

  async unmount(target: string): Promise<void> {
    await unmount(target);
    this.#mounts.delete(target);
  }

  /**
   * Runs fn with a read-only view of a chain of snapshots: undefined for an empty chain,
   * the snapshot itself for one, a read-only overlay for more.
   */
  async withView<T>(
    chain: readonly SnapshotInfo[],
    fn: (root: string | undefined) => Promise<T>,
  ): Promise<T> {
    if (chain.length === 0) return fn(undefined);
    if (chain.length === 1) return fn((chain[0] as SnapshotInfo).path);
    const target = await this.tempDir('view');
    await this.mount(rootfsMount(chain), target);
    try {
      return await fn(target);
    } finally {
      await this.unmount(target);
      await rm(target, { recursive: true, force: true });
    }
  }

  /** Unmounts everything below the workspace and removes it. Never throws. */
  async dispose(): Promise<void> {
    let left: string[] = [];
    try {
      left = await mountsUnder(this.dir);
    } catch (err) {
      this.#log.warn('could not read the mount table', { err: errorMessage(err) });
    }
    let stuck = false;
    for (const target of new Set([...[...this.#mounts].reverse(), ...left])) {
      await unmount(target).catch((err: unknown) => {
        stuck = true;
        this.#log.warn('could not unmount', { target, err: errorMessage(err) });
      });
    }
    this.#mounts.clear();
    // Removing through a mount that is still there would delete what it shows.
    if (stuck) return;
    await rm(this.dir, { recursive: true, force: true }).catch((err: unknown) =>
      this.#log.warn('could not remove the build workspace', { dir: this.dir, err: errorMessage(err) }),
    );
  }
}

async function cleanStale(parent: string, runc: RuncOptions, log: Logger): Promise<void> {
  // runc keeps one state directory per container under its root: reading it spares
  // starting runc at all when nothing was left behind (the cached-rebuild case).
  const states = await readdir(runc.root).catch(() => [] as string[]);
  for (const id of states.filter((name) => ownerIsGone(name))) {
    log.info('removing a build container left by a process that is gone', { container: id });
    await deleteContainer(runc, id).catch((err: unknown) =>
      log.warn('could not remove a leftover build container', { container: id, err: errorMessage(err) }),
    );
  }
  for (const name of await readdir(parent)) {
    if (!ownerIsGone(name)) continue;
    const dir = join(parent, name);
    log.info('removing a build workspace left by a process that is gone', { dir });
    try {
      for (const target of await mountsUnder(dir)) await unmount(target);
      await rm(dir, { recursive: true, force: true });
    } catch (err) {
      log.warn('could not clean up a leftover build workspace', { dir, err: errorMessage(err) });
    }
  }
}
