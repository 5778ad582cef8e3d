// The container spec layer: a pod container's OCI runtime config (pure) and the system's
// default seccomp profile (the one I/O function, load-seccomp.ts).
export type * from './types.js';
export {
  containerOciConfig,
  containerResources,
  containerBindMounts,
  containerCgroupsPath,
  podHostname,
  defaultContainerMounts,
  containerRlimits,
  defaultPidsLimit,
  cpuPeriodUs,
  type ContainerConfigInput,
} from './config.js';
export {
  containerArgv,
  expandReferences,
  mergeEnvironment,
  specEnvironment,
  defaultPath,
} from './command.js';
export { parseByteQuantity, parseCpuMillis } from './quantity.js';
export {
  seccompForContainer,
  parseSeccompProfile,
  type SeccompProfile,
  type SeccompProfileSyscall,
} from './seccomp.js';
export { loadDefaultSeccomp, defaultSeccompPath } from './load-seccomp.js';
