// Images: references, content store, registry client, snapshots, Dockerfile builds.
export * from './types.js';
