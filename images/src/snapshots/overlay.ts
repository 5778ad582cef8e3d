// Snapshots on disk for overlayfs: <root>/snapshots/<chain ID hex>/{fs,metadata.json}. A
// layer is unpacked into <root>/tmp/<pid>-<random>/ and renamed into place only when
// complete and verified, so a snapshot is either whole or absent — after a crash too, and
// when two processes unpack the same layer (the second rename loses and is discarded).
import { randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createLogger,
  failedPrecondition,
  invalidArgument,
  isFlotillaError,
  notFound,
  type Logger,
} from '@flotilla/common';
import { parseDigest } from '../content/digest.js';
import { decompressedChunks, layerCompression } from '../layers/compression.js';
import { readTar } from '../layers/tar-reader.js';
import type { Digest, MountSpec, SnapshotInfo, Snapshotter } from '../types.js';
import { LayerApplier, type LowerLayer } from './apply.js';
import { chainIdOf } from './chain-id.js';
import { planSnapshotGc } from './gc.js';
import { rootfsMount } from './mounts.js';

/** metadata.json of a snapshot. */
interface SnapshotMetadata {
  chainId: Digest;
  parent?: Digest;
  diffId: Digest;
  size: number;
  createdAt: string;
  /** Opaque directories of this layer, relative: later layers' hard links consult them. */
  opaque: string[];
}

export interface UnpackLayer {
  blobPath: string;
  mediaType: string;
  diffId: Digest;
  /** The blob's digest, to name the layer in errors (the diffID is used otherwise). */
  digest?: Digest;
}

export interface OverlaySnapshotterOptions {
  logger?: Logger;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errno(err) === 'EPERM';
  }
}

function isMetadata(value: unknown): value is SnapshotMetadata {
  const m = value as Partial<SnapshotMetadata> | null;
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof m.chainId === 'string' &&
    typeof m.diffId === 'string' &&
    typeof m.size === 'number' &&
    typeof m.createdAt === 'string' &&
    Array.isArray(m.opaque) &&
    (m.parent === undefined || typeof m.parent === 'string')
  );
}

export class OverlaySnapshotter implements Snapshotter {
  readonly root: string;
  readonly #snapshots: string;
  readonly #tmp: string;
  readonly #log: Logger;
  readonly #inflight = new Map<Digest, Promise<SnapshotInfo>>();
  #ready: Promise<void> | undefined;

  constructor(root: string, options: OverlaySnapshotterOptions = {}) {
    this.root = root;
    this.#snapshots = join(root, 'snapshots');
    this.#tmp = join(root, 'tmp');
    this.#log = options.logger ?? createLogger({ component: 'snapshots' });
  }

  /** Creates the directories and removes what dead processes left in tmp/. Idempotent. */
  init(): Promise<void> {
    this.#ready ??= this.#init().catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  async #init(): Promise<void> {
    await mkdir(this.#snapshots, { recursive: true, mode: 0o700 });
    await mkdir(this.#tmp, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.#tmp)) {
      const pid = Number.parseInt(name.split('-')[0] ?? '', 10);
      if (pid === process.pid || (Number.isInteger(pid) && pidAlive(pid))) continue;
      this.#log.info('removing an unpack left by a process that is gone', { dir: name });
      await rm(join(this.#tmp, name), { recursive: true, force: true });
    }
  }

  #dir(chainId: Digest): string {
    const { algorithm, hex } = parseDigest(chainId, 'chainId');
    if (algorithm !== 'sha256') {
      throw invalidArgument(`chain ID "${chainId}" must be a sha256 digest`, {
        field: 'chainId',
        value: chainId,
      });
    }
    return join(this.#snapshots, hex);
  }

  async #metadata(chainId: Digest): Promise<SnapshotMetadata | undefined> {
    const dir = this.#dir(chainId);
    let text: string;
    try {
      text = await readFile(join(dir, 'metadata.json'), 'utf8');
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
    const parsed: unknown = JSON.parse(text);
    if (!isMetadata(parsed) || parsed.chainId !== chainId) {
      throw new Error(`snapshot metadata ${join(dir, 'metadata.json')} is not valid for ${chainId}`);
    }
    return parsed;
  }

  #info(meta: SnapshotMetadata): SnapshotInfo {
    const info: SnapshotInfo = {
      chainId: meta.chainId,
      path: join(this.#dir(meta.chainId), 'fs'),
      size: meta.size,
      createdAt: meta.createdAt,
    };
    if (meta.parent !== undefined) info.parent = meta.parent;
    return info;
  }

  async stat(chainId: Digest): Promise<SnapshotInfo | undefined> {
    const meta = await this.#metadata(chainId);
    return meta === undefined ? undefined : this.#info(meta);
  }

  unpack(parent: Digest | undefined, layer: UnpackLayer): Promise<SnapshotInfo> {
    let chainId: Digest;
    try {
      chainId = chainIdOf(parent, layer.diffId);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    let running = this.#inflight.get(chainId);
    if (running === undefined) {
      running = this.#unpack(chainId, parent, layer).finally(() => this.#inflight.delete(chainId));
      this.#inflight.set(chainId, running);
    }
    return running;
  }

  async #lowers(parent: Digest | undefined): Promise<LowerLayer[]> {
    const lowers: LowerLayer[] = [];
    const seen = new Set<Digest>();
    for (let id = parent; id !== undefined;) {
      if (seen.has(id)) throw new Error(`snapshot ${id} is its own ancestor`);
      seen.add(id);
      const meta = await this.#metadata(id);
      if (meta === undefined) {
        throw notFound(`snapshot ${id} is not unpacked: unpack the layers below first`, {
          object: `snapshot/${id}`,
        });
      }
      lowers.push({ path: join(this.#dir(id), 'fs'), opaque: new Set(meta.opaque) });
      id = meta.parent;
    }
    return lowers;
  }

  async #unpack(chainId: Digest, parent: Digest | undefined, layer: UnpackLayer): Promise<SnapshotInfo> {
    const existing = await this.stat(chainId);
    if (existing !== undefined) return existing;
    await this.init();
    const lowers = await this.#lowers(parent);
    const compression = layerCompression(layer.mediaType);
    const name = layer.digest ?? layer.diffId;
    if (!(await exists(layer.blobPath))) {
      throw notFound(`layer ${name}: blob ${layer.blobPath} does not exist`, {
        object: `layer/${name}`,
        field: 'blobPath',
        value: layer.blobPath,
      });
    }
    const log = this.#log.child({ layer: name, chainId });
    const tmp = await mkdtemp(join(this.#tmp, `${process.pid}-`));
    try {
      const fs = join(tmp, 'fs');
      await mkdir(fs, { mode: 0o755 });
      const applier = new LayerApplier({ root: fs, lowers, layer: name, logger: log });
      const read = await readTar(decompressedChunks(layer.blobPath, compression), (entry) =>
        applier.handle(entry),
      );
      if (read.diffId !== layer.diffId) {
        throw invalidArgument(
          `layer ${name}: its uncompressed content has diffID ${read.diffId}, not the ${layer.diffId} the image config names`,
          { object: `layer/${name}`, field: 'diffId', value: read.diffId },
        );
      }
      const applied = await applier.finish();
      const meta: SnapshotMetadata = {
        chainId,
        diffId: layer.diffId,
        size: applied.size,
        createdAt: new Date().toISOString(),
        opaque: applied.opaque,
      };
      if (parent !== undefined) meta.parent = parent;
      await writeFile(join(tmp, 'metadata.json'), `${JSON.stringify(meta)}\n`, { mode: 0o600 });
      try {
        await rename(tmp, this.#dir(chainId));
      } catch (err) {
        // Another process finished the same layer first: use its snapshot, drop ours.
        const code = errno(err);
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        const theirs = await this.stat(chainId);
        if (theirs === undefined) throw err;
        log.debug('layer was unpacked by another process meanwhile');
        return theirs;
      }
      log.debug('layer unpacked', { size: applied.size, bytes: read.size });
      return this.#info(meta);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  rootfsMount(chain: SnapshotInfo[], upperDir?: string, workDir?: string): MountSpec {
    return rootfsMount(chain, upperDir, workDir);
  }

  async list(): Promise<SnapshotInfo[]> {
    let names: string[];
    try {
      names = await readdir(this.#snapshots);
    } catch (err) {
      if (errno(err) === 'ENOENT') return [];
      throw err;
    }
    const out: SnapshotInfo[] = [];
    for (const hex of names.sort()) {
      if (!/^[a-f0-9]{64}$/.test(hex)) continue;
      try {
        const info = await this.stat(`sha256:${hex}`);
        if (info !== undefined) out.push(info);
      } catch (err) {
        this.#log.warn('skipping a snapshot with unreadable metadata', { snapshot: hex, err });
      }
    }
    return out;
  }

  /** Removes a snapshot; refused while another snapshot is stacked on it. */
  async remove(chainId: Digest): Promise<void> {
    if ((await this.stat(chainId)) === undefined) {
      throw notFound(`snapshot ${chainId} does not exist`, { object: `snapshot/${chainId}` });
    }
    const children = (await this.list()).filter((s) => s.parent === chainId).map((s) => s.chainId);
    if (children.length > 0) {
      throw failedPrecondition(
        `snapshot ${chainId} is the parent of ${children.join(', ')}: remove those first`,
        {
          object: `snapshot/${chainId}`,
          value: children,
        },
      );
    }
    await this.#removeDir(chainId);
  }

  /** Renamed out of snapshots/ first, so it disappears at once, then deleted. */
  async #removeDir(chainId: Digest): Promise<void> {
    await this.init();
    const trash = join(this.#tmp, `${process.pid}-rm-${randomBytes(6).toString('hex')}`);
    try {
      await rename(this.#dir(chainId), trash);
    } catch (err) {
      if (errno(err) === 'ENOENT')
        throw notFound(`snapshot ${chainId} does not exist`, { object: `snapshot/${chainId}` });
      throw err;
    }
    await rm(trash, { recursive: true, force: true });
  }

  /**
   * Removes every snapshot that neither is in inUse nor lies below one that is. Returns the
   * chain IDs removed, children before parents.
   */
  async garbageCollect(inUse: ReadonlySet<Digest>): Promise<Digest[]> {
    const plan = planSnapshotGc(await this.list(), inUse);
    const removed: Digest[] = [];
    for (const chainId of plan) {
      try {
        await this.#removeDir(chainId);
        removed.push(chainId);
      } catch (err) {
        if (!isFlotillaError(err, 'NotFound')) throw err;
      }
    }
    if (removed.length > 0) this.#log.info('removed unused snapshots', { count: removed.length });
    return removed;
  }
}
