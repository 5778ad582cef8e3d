// The part of the OCI runtime spec (config.json of a bundle) that Flotilla writes. Field
// names are the spec's, so the object serialises straight into what runc reads.

export interface OciUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient: string[];
}

export interface OciRlimit {
  /** "RLIMIT_NOFILE", "RLIMIT_NPROC"... */
  type: string;
  soft: number;
  hard: number;
}

export interface OciProcess {
  terminal: boolean;
  user: OciUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities: OciCapabilities;
  rlimits: OciRlimit[];
  noNewPrivileges: boolean;
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export type OciNamespaceType = 'pid' | 'network' | 'ipc' | 'uts' | 'mount' | 'cgroup' | 'user';

export interface OciDeviceRule {
  allow: boolean;
  type?: 'a' | 'b' | 'c';
  major?: number;
  minor?: number;
  access: string;
}

export interface OciLinux {
  namespaces: { type: OciNamespaceType; path?: string }[];
  cgroupsPath: string;
  resources: { devices: OciDeviceRule[]; pids?: { limit: number } };
  maskedPaths: string[];
  readonlyPaths: string[];
}

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  linux: OciLinux;
}

/** One resource limit as the host grants it; Infinity for "unlimited". */
export interface HostLimit {
  soft: number;
  hard: number;
}

/** The calling process's limits by OCI name ("RLIMIT_NOFILE"). */
export type HostLimits = ReadonlyMap<string, HostLimit>;
