// The Dockerfile front end: parse (pure), plan with cache keys (pure, I/O injected), the
// build context on disk (.dockerignore, walk, hashing), and the image config of a result.
export type * from './types.js';
export { parseDockerfile, type DockerfileParseOptions } from './parser.js';
export { expandWord, expandWords, type Lookup as VariableLookup } from './expand.js';
export {
  compileDockerignore,
  parseDockerignore,
  readDockerignore,
  type DockerIgnore,
  type IgnorePattern,
} from './dockerignore.js';
export { planBuild, defaultPathEnv, parsePorts, type BuildPlanOptions } from './plan.js';
export { baseCacheKey, stepCacheKey, type StepKeyInput } from './cache-key.js';
export {
  createContextHasher,
  entriesUnder,
  isLocalArchive,
  loadDockerignore,
  selectSources,
  walkContext,
  type ContextEntry,
  type ContextHasherOptions,
} from './context.js';
export { buildImageConfig, stageChain, type BuildImageConfigInput, type StageChain } from './image-config.js';
