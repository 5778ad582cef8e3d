// The pod manager: desired pods → containers, and their status.
export * from './model.js';
export * from './decide.js';
export * from './status.js';
export * from './host-ports.js';
export * from './drain.js';
export {
  hostsFile,
  podResolvConf,
  clusterResolvConf,
  type ClusterDns,
  checkHostPath,
  preparePodFiles,
  containerVolumes,
  removePodDir,
  removePodCgroups,
  type PreparedPodFiles,
} from './pod-files.js';
export {
  PodManager,
  runcReason,
  type PodManagerOptions,
  type PodStatusUpdate,
  type PodManagerEvents,
  type PodImages,
} from './manager.js';
export * from './reset-plan.js';
export { resetAgent, resetInventory, type ResetOptions, type ResetResult } from './reset.js';
