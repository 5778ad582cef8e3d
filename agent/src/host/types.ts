/** What the agent learns about its host; the input to building the Node object. */
export interface HostFacts {
  hostname: string;
  cpuCount: number;
  memoryTotalBytes: number;
  kernelVersion: string;
  /** PRETTY_NAME from /etc/os-release, e.g. "Debian GNU/Linux 12 (bookworm)". */
  osImage: string;
  /** "linux" */
  operatingSystem: string;
  /** GOARCH spelling: amd64, arm64… */
  architecture: string;
  machineID: string;
  bootID: string;
  /** e.g. "1.1.5+ds1"; absent when runc is not installed. */
  runcVersion?: string;
  /** Non-loopback, non-link-local IPv4 addresses in interface order. */
  ipv4Addresses: string[];
  agentVersion: string;
}

/** /proc/meminfo, in bytes. */
export interface MemoryInfo {
  totalBytes: number;
  availableBytes: number;
}

/** Cumulative CPU time from /proc/stat's first line, in clock ticks. */
export interface CpuTimes {
  busy: number;
  total: number;
}
