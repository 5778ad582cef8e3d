// The images the end-to-end harnesses run: the busybox base image as `deploy up` makes it,
// and examples/hello and examples/web built and pushed by the CLI, under one registry.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  busyboxImageConfig,
  busyboxRootfs,
  commitBaseImage,
  openLocalImages,
  parseReference,
} from '@flotilla/images';
import { repoRoot } from './cluster.js';

export interface ExampleImages {
  busybox: string;
  hello: string;
  web: string;
}

/** The references the base image and the examples are pushed under in the registry at host. */
export function exampleImages(host: string): ExampleImages {
  return {
    busybox: `${host}/library/busybox:latest`,
    hello: `${host}/examples/hello:latest`,
    web: `${host}/examples/web:latest`,
  };
}

/** Commits the busybox base image into the CLI's image store at imageRoot (scratch space under scratchDir). */
export async function commitBusyboxBase(imageRoot: string, scratchDir: string): Promise<void> {
  const local = openLocalImages(imageRoot);
  const tmp = await mkdtemp(join(scratchDir, 'busybox-'));
  try {
    await busyboxRootfs(join(tmp, 'rootfs'));
    await commitBaseImage(
      local,
      parseReference('busybox').canonical,
      join(tmp, 'rootfs'),
      busyboxImageConfig(),
    );
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The `deploy` commands that push the base image and build and push the examples; pushFlags go to every push. */
export function examplePushSteps(images: ExampleImages, pushFlags: readonly string[] = []): string[][] {
  return [
    ['tag', 'busybox', images.busybox],
    ['push', ...pushFlags, images.busybox],
    ['build', '-q', '-t', images.hello, join(repoRoot, 'examples', 'hello')],
    ['push', ...pushFlags, images.hello],
    ['build', '-q', '-t', images.web, join(repoRoot, 'examples', 'web')],
    ['push', ...pushFlags, images.web],
  ];
}
