// A minimal runc runner for build steps: the OCI runtime config (pure), running a
// container to completion, and mounting rootfs descriptions.
export type * from './types.js';
export {
  ociConfigForBuild,
  kernelMounts,
  capabilitiesFor,
  clampRlimits,
  parseProcLimits,
  resolveUser,
  resolveChown,
  dockerDefaultCapabilities,
  dockerMaskedPaths,
  dockerReadonlyPaths,
  buildRlimits,
  buildHostname,
  type BuildContainerInput,
  type AccountFiles,
} from './oci-config.js';
export {
  runContainer,
  runcCommand,
  listContainers,
  deleteContainer,
  readHostLimits,
  type RuncOptions,
  type RunContainerOptions,
  type ContainerExit,
} from './runner.js';
export { mountAt, unmount, mountsUnder, mountCommands } from './mount.js';
