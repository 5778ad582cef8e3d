// `deploy up` fills the local registry with what the examples need, so every example
// builds and runs with no internet: the busybox base made from Debian's busybox-static,
// then examples/hello and examples/web built FROM it, each pushed to the cluster's
// registry. Everything is built in <data-dir>/images, so `down --purge` removes it, and the
// build cache makes an unchanged second `up` cheap.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { failedPrecondition, type Logger } from '@flotilla/common';
import {
  RegistryClient,
  busyboxImageConfig,
  busyboxRootfs,
  parseReference,
  buildImage,
  commitBaseImage,
  openLocalImages,
  type LocalImages,
} from '@flotilla/images';
import { launcherTrust } from '../cli/launcher-trust.js';

/** The repository's examples/, found from this module (dist/local/ of the deploy package). */
export const examplesDir = fileURLToPath(new URL('../../../examples/', import.meta.url));

/** The examples `up` builds, by folder; each is pushed as <registry>/examples/<name>:latest. */
export const seededExamples = ['hello', 'web'] as const;

export const baseImageName = 'busybox:latest';

export function imagesDirOf(dataDir: string): string {
  return join(dataDir, 'images');
}

export interface SeedStep {
  /** The reference pushed to the local registry. */
  name: string;
  /** Built from, for messages: "busybox-static" or "examples/web". */
  source: string;
}

/** What `up` pushes to a registry at host, in order. Pure. */
export function seedPlan(registryHost: string): SeedStep[] {
  return [
    { name: `${registryHost}/library/busybox:latest`, source: 'busybox-static' },
    ...seededExamples.map((e) => ({ name: `${registryHost}/examples/${e}:latest`, source: `examples/${e}` })),
  ];
}

export interface SeedOptions {
  dataDir: string;
  /** "127.0.0.1:PORT" of the cluster's registry (with hosts: "BRIDGE-ADDRESS:PORT"). */
  registryHost: string;
  logger: Logger;
  /** Progress, one line at a time. */
  progress?: (line: string) => void;
  signal?: AbortSignal;
  /** Where the examples are (default: the repository's examples/). */
  examples?: string;
}

async function commitBusybox(local: LocalImages, tmpRoot: string): Promise<void> {
  await mkdir(tmpRoot, { recursive: true });
  const dir = await mkdtemp(join(tmpRoot, 'busybox-'));
  try {
    await busyboxRootfs(join(dir, 'rootfs'));
    await commitBaseImage(
      local,
      parseReference(baseImageName).canonical,
      join(dir, 'rootfs'),
      busyboxImageConfig(),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Builds and pushes the base image and the examples; returns the references pushed. */
export async function seedImages(options: SeedOptions): Promise<string[]> {
  const { registryHost, logger, signal } = options;
  const say = options.progress ?? ((): void => undefined);
  const examples = options.examples ?? examplesDir;
  for (const example of seededExamples) {
    if (!existsSync(join(examples, example, 'Dockerfile'))) {
      throw failedPrecondition(`cannot seed images: ${join(examples, example, 'Dockerfile')} is missing`, {
        object: `dir/${examples}`,
      });
    }
  }
  const root = imagesDirOf(options.dataDir);
  const local = openLocalImages(root, { logger });
  // The local registry is plain HTTP (on loopback, or on the hosts' bridge address, which
  // only this machine reaches) and needs no credentials.
  const explicitTrust = launcherTrust();
  const registry = new RegistryClient({
    logger: logger.child({ component: 'registry' }),
    hosts: { [registryHost]: { insecure: true } },
    ...(explicitTrust !== undefined ? { explicitTrust } : {}),
  });
  const pushed: string[] = [];
  try {
    const [base, ...built] = seedPlan(registryHost);
    if (base === undefined) return pushed;
    await commitBusybox(local, join(root, 'tmp'));
    // The registry's name for it, locally too: later pushes mount its layer from there.
    const baseRecord = await local.images.get(parseReference(baseImageName).canonical);
    if (baseRecord === undefined) throw failedPrecondition('the busybox base image was not committed');
    const baseRef = parseReference(base.name);
    await local.images.put({ ...baseRecord, name: baseRef.canonical, updatedAt: new Date().toISOString() });
    await registry.push(baseRef, {
      content: local.content,
      images: local.images,
      ...(signal ? { signal } : {}),
    });
    say(`${base.name} (from ${base.source})`);
    pushed.push(base.name);

    for (const step of built) {
      const ref = parseReference(step.name);
      await buildImage({
        contextDir: join(examples, step.source.slice('examples/'.length)),
        tags: [ref.canonical],
        buildArgs: {},
        noCache: false,
        local,
        registry,
        log: logger,
        output: () => undefined,
        ...(signal ? { signal } : {}),
      });
      await registry.push(ref, {
        content: local.content,
        images: local.images,
        ...(signal ? { signal } : {}),
      });
      say(`${step.name} (from ${step.source})`);
      pushed.push(step.name);
    }
    return pushed;
  } finally {
    registry.close();
  }
}

/** The seeded references present in the data directory's image store (for a running cluster). */
export async function seededImages(dataDir: string, registryHost: string): Promise<string[]> {
  const root = imagesDirOf(dataDir);
  if (!existsSync(join(root, 'images.json'))) return [];
  const local = openLocalImages(root);
  const names = new Set((await local.images.list()).map((r) => r.name));
  return seedPlan(registryHost)
    .map((s) => s.name)
    .filter((n) => names.has(parseReference(n).canonical));
}
