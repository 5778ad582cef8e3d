// The build executor: a Dockerfile's plan run against the local store (COPY layers written
// from the context, RUN in runc over overlay snapshots, a layer cache), the image committed.
export { buildImage, type BuildImageOptions, type BuildResult, type BuildStepResult } from './build-image.js';
export {
  commitBaseImage,
  commitImage,
  canonicalTags,
  imageManifest,
  localImageResolver,
  ociLayerMediaType,
  readLocalImage,
  unpackImage,
  type CommitResult,
  type ImagePuller,
  type LocalImage,
  type ResolverOptions,
} from './image.js';
export {
  planCopyEntries,
  type CopyPlanInput,
  type CopySource,
  type ExistingDir,
  type SourceEntry,
} from './copy-plan.js';
export {
  resolveInRoot,
  readFileInRoot,
  accountFiles,
  type RootPath,
  type RootPathKind,
} from './rootfs-view.js';
export { writableRootfs } from './run-step.js';
export { shortDigest, stepLine, resultLine, builtLines, usingCache } from './progress.js';
export { BuildWorkspace, ownerIsGone } from './workspace.js';
