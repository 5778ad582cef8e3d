// The image the pull benchmark moves: three gzip layers like a small real application
// image — the busybox base rootfs, a few MB of varied application files (text that
// compresses, data that does not, nested directories, symlinks, a hard link) and a small
// configuration layer — assembled in a local store and pushed once to the registry.
import { createWriteStream } from 'node:fs';
import { link, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  FileContentStore,
  FileImageStore,
  RegistryClient,
  busyboxImageConfig,
  busyboxRootfs,
  imageManifest,
  mediaTypes,
  parseReference,
  tarDirectory,
  type Descriptor,
  type ImageConfig,
} from '@flotilla/images';
import { silentLogger } from '@flotilla/common';

export interface BenchImage {
  /** "127.0.0.1:PORT/bench/app:v1". */
  name: string;
  manifestDigest: string;
  layers: { digest: string; size: number; diffId: string }[];
  /** Sum of the compressed layer sizes. */
  compressedBytes: number;
}

/** A deterministic byte generator (xorshift32), so every run pushes the same image. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const words = (
  'container image layer registry manifest digest snapshot overlay flotilla agent deploy ' +
  'controller blob config rootfs whiteout chain tar gzip push pull build cache step'
).split(' ');

/** Layer 2: ~6 MB across ~200 files — half compressible text, half random bytes. */
async function writeAppFiles(root: string): Promise<void> {
  const next = prng(0x5eed);
  const app = join(root, 'srv/app');
  for (const sub of ['assets/img', 'assets/css', 'lib/core', 'lib/vendor', 'data', 'docs']) {
    await mkdir(join(app, sub), { recursive: true });
  }
  for (let i = 0; i < 120; i++) {
    const lines: string[] = [];
    for (let l = 0; l < 300; l++) {
      const n = 6 + (next() % 10);
      lines.push(Array.from({ length: n }, () => words[next() % words.length]).join(' '));
    }
    const dir = ['lib/core', 'lib/vendor', 'docs', 'assets/css'][i % 4] as string;
    await writeFile(join(app, dir, `file-${i}.txt`), lines.join('\n') + '\n');
  }
  for (let i = 0; i < 60; i++) {
    const size = 16_384 + (next() % 65_536);
    const buf = Buffer.alloc(size);
    for (let o = 0; o + 4 <= size; o += 4) buf.writeUInt32LE(next(), o);
    await writeFile(join(app, i % 2 === 0 ? 'assets/img' : 'data', `blob-${i}.bin`), buf);
  }
  await symlink('lib/core/file-0.txt', join(app, 'main.txt'));
  await symlink('../lib', join(app, 'docs/lib'));
  await link(join(app, 'lib/core/file-4.txt'), join(app, 'data/hardlink.txt'));
}

/** Layer 3: a little configuration on top. */
async function writeConfigFiles(root: string): Promise<void> {
  await mkdir(join(root, 'etc/app'), { recursive: true });
  await mkdir(join(root, 'srv/app'), { recursive: true });
  await writeFile(join(root, 'etc/app/app.conf'), 'listen = 0.0.0.0:8080\nworkers = 4\nlog = info\n');
  await writeFile(join(root, 'srv/app/VERSION'), 'v1\n');
}

/**
 * Builds the three layers in scratch, stores them with a config and manifest in a store
 * under storeDir, and pushes the image to registryHost as bench/app:v1.
 */
export async function pushBenchImage(
  scratch: string,
  storeDir: string,
  registryHost: string,
): Promise<BenchImage> {
  const content = new FileContentStore(join(storeDir, 'content'), { logger: silentLogger });
  const images = new FileImageStore(join(storeDir, 'images.json'));
  const writers: ((dir: string) => Promise<unknown>)[] = [
    (dir) => busyboxRootfs(dir),
    writeAppFiles,
    writeConfigFiles,
  ];
  const layers: BenchImage['layers'] = [];
  const descriptors: Descriptor[] = [];
  for (const [i, write] of writers.entries()) {
    const dir = join(scratch, `layer-${i + 1}`);
    await mkdir(dir, { recursive: true });
    await write(dir);
    const file = join(scratch, `layer-${i + 1}.tar.gz`);
    const written = await tarDirectory(dir, createWriteStream(file), { mtime: new Date(0) });
    const stored = await content.put(await readFile(file));
    await rm(file);
    layers.push({ digest: stored.digest, size: stored.size, diffId: written.diffId });
    descriptors.push({ mediaType: written.mediaType, digest: stored.digest, size: stored.size });
  }
  const base = busyboxImageConfig({ diffIds: layers.map((l) => l.diffId) });
  const config: ImageConfig = {
    ...base,
    config: { ...base.config, Cmd: ['cat', '/srv/app/VERSION'], WorkingDir: '/srv/app' },
  };
  const configBlob = await content.put(JSON.stringify(config));
  const manifest = imageManifest({ mediaType: mediaTypes.ociConfig, ...configBlob }, descriptors);
  const manifestBlob = await content.put(JSON.stringify(manifest));
  const ref = parseReference(`${registryHost}/bench/app:v1`);
  await images.put({
    name: ref.canonical,
    target: { mediaType: mediaTypes.ociManifest, ...manifestBlob },
    updatedAt: new Date().toISOString(),
  });
  const client = new RegistryClient({ logger: silentLogger });
  try {
    await client.push(ref, { content, images });
  } finally {
    client.close();
  }
  return {
    name: ref.canonical,
    manifestDigest: manifestBlob.digest,
    layers,
    compressedBytes: layers.reduce((sum, l) => sum + l.size, 0),
  };
}
