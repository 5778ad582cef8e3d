// @flotilla/deploy: the CLI, and the pure pieces tests check without servers.
export { runCli, rootCommand } from './commands/root.js';
export type { CliIo, Command, FlagSpec, CommandContext } from './cli/types.js';
export { exitCodes } from './cli/types.js';
export { UsageError, isUsageError } from './cli/usage-error.js';
export { parseCommandLine } from './cli/parse.js';
export { parseDuration, formatDuration } from './cli/values.js';

export { connectCluster, openCluster, withCluster, type ClusterApi } from './client/cluster-client.js';

export { renderTable } from './format/table.js';
export { humanDuration, formatAge } from './format/age.js';
export {
  parseQuantity,
  formatBytes,
  formatCpu,
  formatMemoryQuantity,
  formatCpuQuantity,
} from './format/quantity.js';
export {
  nodeStatus,
  nodeRow,
  nodesTable,
  nodeDocument,
  nodeListDocument,
  isNodeReady,
  nodeAddress,
  nodeColumns,
  nodeWideColumns,
} from './format/nodes.js';
export { renderDocument, outputFormats, type OutputFormat } from './format/output.js';
export { tokenStatus, tokensTable, formatExpiry, type TokenStatus } from './format/tokens.js';
export { checkLabelSelector } from './selector/label-selector.js';
export { localProblems, controllerProblems, clusterStatusTable } from './format/status.js';
export { clusterSummary, componentsTable, tail } from './format/local.js';

export { defaultPorts, localLayout, type Layout, type LocalPorts } from './local/layout.js';
export {
  localAgentReset,
  localClusterPlan,
  localPodRuntimeFlags,
  registryConfig,
  type ComponentSpec,
  type Executables,
} from './local/plan.js';
export {
  readClusterState,
  parseClusterState,
  type ClusterState,
  type ComponentRecord,
} from './local/state.js';
export {
  inspectLocalCluster,
  stopLocalCluster,
  clearedState,
  type LocalClusterView,
} from './local/control.js';
export { startProgress, isStateOf, newlyUp, type StartProgress } from './local/start-progress.js';
export { cmdlineMatches, isSupervisorCmdline } from './local/procs.js';
export { listeningInodes } from './local/ports.js';
export { mountsUnder } from './local/mounts.js';
// Hosts made of network namespaces (deploy up --nodes N and test/lib/hosts-cluster.ts).
export * as localHosts from './local/hosts/index.js';
export { hostAgentFlags, hostAgentName, localHostsPrefix } from './local/plan.js';
export { restartDelay, nextFailureCount, backoff } from './local/backoff.js';

export {
  resolveImageSettings,
  registryHosts,
  insecureRegistryProblem,
  defaultImageRoot,
  type ImageSettings,
} from './images/settings.js';
export { checkReference, checkTag, parseBuildArgs, parseTags } from './images/args.js';
export {
  shortId,
  humanSize,
  createdAgo,
  repositoryOf,
  imagesTable,
  imageIds,
  pullHeader,
  pullLayerLines,
  pullFooter,
  pushLayerLine,
  pushHeader,
  pushFooter,
  type ImageSummary,
} from './images/format.js';
export { planPrune, type PruneInput, type PrunePlan, type PruneImage } from './images/prune-plan.js';
export { matchImages, summaryOf, type LocalImage } from './images/inventory.js';
export { filterImages } from './commands/images.js';
export { pruneSummary } from './commands/prune.js';
export { passwordFromStdin } from './commands/login.js';
export { seedPlan, seededExamples, examplesDir, imagesDirOf } from './local/seed-images.js';

export {
  buildRunPod,
  parsePublish,
  parseVolume,
  parseMemory,
  memoryQuantity,
  parseCpus,
  parseEnvAssignment,
  parseEnvFile,
  checkPodName,
  randomPodName,
  autoRemoveAnnotation,
  restartedAtAnnotation,
  type RunOptions,
} from './pods/run-spec.js';
export {
  runProgress,
  dockerState,
  cannotRunCode,
  failureCode,
  detachedStart,
  startFailureHint,
  exitCodeOf,
  hasRunningContainer,
  allContainersStopped,
  splitPodContainer,
  type RunProgress,
  type DetachedStart,
} from './pods/state.js';
export {
  dockerDuration,
  psStatus,
  psCommand as psCommandColumn,
  psPorts,
  psRow,
  psTable,
  psNames,
  psVisible,
  parsePsFilter,
  matchesPsFilters,
} from './format/ps.js';
export { inspectPod } from './format/inspect.js';
export {
  renderTemplate,
  parseTemplate,
  executeTemplate,
  goString,
  TemplateError,
} from './format/template.js';
export { runCommand, runOptionsFromFlags, startFailureText, terminalLine } from './commands/run.js';
export { execExitCode } from './commands/exec.js';
export { parseTail, parseSince } from './commands/logs.js';
export { stoppedPod, startedPod } from './commands/lifecycle.js';
export { flagReader } from './cli/parse.js';

// Manifests and the declarative commands (issue 5).
export type { ObjectApi, ServerStream } from './client/cluster-client.js';
export { readSources, readAll, isManifestFile, type ManifestSource } from './manifests/sources.js';
export { parseDocuments, documentLabel, type ParsedDocument } from './manifests/documents.js';
export { checkDocument, modelLabel, type ModelTypes, type ModelAttribute } from './manifests/schema.js';
export { supportedFields, quantityFields } from './manifests/supported.js';
export { kubernetesModels } from './manifests/models.js';
export { checkDocuments, checkManifests, loadManifests, type LoadedManifest } from './manifests/load.js';
export { kinds, kindInfo, resolveResource, qualifiedName, unwrap, type KindInfo } from './objects/kinds.js';
export { rolloutProgress, type RolloutProgress } from './objects/rollout-progress.js';
export { waitForRollout } from './objects/rollout-wait.js';
export {
  objectsTable,
  objectDocument,
  objectListDocument,
  podStatus,
  podReady,
  formatSelector,
  formatServicePorts,
  formatEndpoints,
  tableHeaders,
  tableRow,
} from './format/objects.js';
export { describeObject, templateLines, revisionAnnotation } from './format/describe.js';
export { unifiedDiff } from './format/diff.js';
export { applyManifests, appliedLine } from './commands/apply.js';
export { diffManifests, objectDiff, diffName, diffExit } from './commands/diff.js';
export { getObjects, watchObjects, WatchPrinter, noResourcesMessage } from './commands/get.js';
export { describeOne, eventSelector } from './commands/describe.js';
export { deleteObjects, deletedLine } from './commands/delete.js';
export { scaleObject } from './commands/scale.js';
export {
  revisionsOf,
  historyText,
  rolloutHistory,
  rolloutAction,
  rolloutStatus,
} from './commands/rollout.js';
export { setCordoned, drainNode } from './commands/drain.js';
export { placeInNamespace } from './commands/object-flags.js';
