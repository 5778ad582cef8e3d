// What an image's config says (Entrypoint, Cmd, Env, WorkingDir), for inspect and ps to
// show what docker shows, read from the local image store only.
import { existsSync } from 'node:fs';
import { errorMessage } from '@flotilla/common';
import { openLocalImages } from '@flotilla/images';
import type { CommandContext } from '../cli/types.js';
import { homeDir } from '../cli/run.js';
import type { ImageDefaults } from '../format/inspect.js';
import { listLocalImages, matchImages, type LocalImage } from '../images/inventory.js';
import { resolveImageSettings } from '../images/settings.js';

const listings = new WeakMap<object, Promise<LocalImage[]>>();

/** The local images, read once per cache (one command). */
function localImagesOnce(ctx: CommandContext, cache: object): Promise<LocalImage[]> {
  let listing = listings.get(cache);
  if (!listing) {
    const settings = resolveImageSettings({
      insecureRegistries: [],
      env: ctx.io.env,
      home: homeDir(ctx.io.env),
      cwd: ctx.io.cwd,
    });
    listing = existsSync(settings.root)
      ? listLocalImages(openLocalImages(settings.root, { logger: ctx.logger }))
      : Promise.resolve([]);
    listings.set(cache, listing);
  }
  return listing;
}

/**
 * The image's Entrypoint, Cmd, Env and WorkingDir from the local image store (where
 * "deploy build" and "deploy pull" put images), without touching the network; undefined
 * when the image is not there.
 */
export async function localImageDefaults(
  ctx: CommandContext,
  cache: Map<string, ImageDefaults | undefined>,
  image: string,
): Promise<ImageDefaults | undefined> {
  if (cache.has(image)) return cache.get(image);
  let found: ImageDefaults | undefined;
  try {
    const images = await localImagesOnce(ctx, cache);
    if (images.length > 0) {
      const [match] = matchImages(images, image);
      const config = match?.config?.config;
      if (config) {
        found = {
          Entrypoint: config.Entrypoint ?? null,
          Cmd: config.Cmd ?? null,
          Env: config.Env ?? null,
          ...(config.WorkingDir !== undefined ? { WorkingDir: config.WorkingDir } : {}),
        };
      }
    }
  } catch (err) {
    ctx.logger.debug('cannot read the local image store', { image, error: errorMessage(err) });
  }
  cache.set(image, found);
  return found;
}
