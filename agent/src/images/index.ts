// The agent's image service: pulls what the desired pods need, unpacks it, and collects
// garbage past a disk threshold.
export * from './types.js';
export {
  defaultPullPolicy,
  effectivePullPolicy,
  pullAction,
  wantedImages,
  alwaysPulledImages,
  type PullAction,
  type WantedImage,
} from './pull-policy.js';
export {
  planImageGc,
  type ImagePart,
  type GcCandidate,
  type ImageGcInput,
  type ImageGcPlan,
} from './gc-plan.js';
export { classifyPullError } from './failure.js';
export { readDiskUsage } from './disk-usage.js';
export { PullGcGate } from './gate.js';
export { parseRegistryAuthConfig, registryAuthFileLookup } from './registry-auth.js';
export {
  openAgentImageStores,
  readLocalImage,
  unpackLocalImage,
  imageParts,
  type AgentImageStores,
  type LocalImage,
} from './local-image.js';
export { collectImageGarbage, type ImageGcRun } from './image-gc.js';
export {
  ImageService,
  defaultImageRetryBackoff,
  defaultImageGcIntervalMs,
  type ImageServiceOptions,
  type ImageServiceEvents,
} from './image-service.js';
export { presentImages } from './node-images.js';
