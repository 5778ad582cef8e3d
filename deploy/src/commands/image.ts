// deploy image …: the image commands grouped as docker groups them (`image ls`, `image rm`…),
// plus `image inspect`, which has no top-level form.
import type { Command } from '../cli/types.js';
import { buildCommand } from './build.js';
import { imagesCommand, inspectImageCommand, rmiCommand, tagCommand } from './images.js';
import { pruneCommand } from './prune.js';
import { pullCommand, pushCommand } from './pull.js';

export const imageCommand: Command = {
  name: 'image',
  summary: 'manage local images: build, ls, rm, tag, inspect, push, pull, prune',
  subcommands: [
    buildCommand,
    { ...imagesCommand, name: 'ls', aliases: ['list'] },
    { ...rmiCommand, name: 'rm', aliases: ['remove'] },
    tagCommand,
    inspectImageCommand,
    pushCommand,
    pullCommand,
    pruneCommand,
  ],
};
