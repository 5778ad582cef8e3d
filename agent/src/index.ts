// @flotilla/agent: the agent that runs on every host. Library entry point; the
// executable is main.ts (flotilla-agent).

// Running the agent
export { startAgent } from './agent/start-agent.js';
export type { RunningAgent, StartAgentOptions } from './agent/start-agent.js';
export type { AgentOptions } from './options/types.js';
export {
  defaultStateDir,
  defaultHeartbeatIntervalMs,
  defaultImageGcHighThresholdPercent,
  defaultImageGcLowThresholdPercent,
} from './options/types.js';
export { parseAgentArgs, helpText, envName } from './options/flags.js';
export type { AgentCommand } from './options/flags.js';
export { UsageError, isUsageError } from './options/usage-error.js';

// Identity: the state directory and the join
export type { NodeIdentity, NodeRecord, StoredIdentity } from './identity/types.js';
export { readIdentity, writeIdentity, stateFiles, parseNodeRecord } from './identity/state-store.js';
export { pickPinnedCa, checkServerChain, fetchPresentedChain } from './identity/trust.js';
export { checkJoinResponse } from './identity/join.js';

// The Node object (pure) and what it is built from
export type { HostFacts, MemoryInfo, CpuTimes } from './host/types.js';
export { probeHost } from './host/probe.js';
export {
  parseMeminfo,
  parseOsRelease,
  parseRuncVersion,
  parseProcStat,
  cpuMillicores,
} from './host/parse.js';
export {
  buildNode,
  withAgentPort,
  nodeLabels,
  internalAddress,
  memoryQuantity,
  hostLabels,
  maxPodsPerNode,
} from './node/build.js';
export type { NodeSettings } from './node/build.js';
export { parseLabels, validateLabelKey, validateLabelValue } from './node/labels.js';
export { nodeNameFromHostname, labelValueFromHostname } from './node/names.js';

// The desired set of pods (pure state + the in-memory holder)
export { applyAssignmentEvent, emptyAssignmentState, podKey } from './sync/assignment-state.js';
export type {
  AssignmentState,
  ApplyResult,
  DesiredChange,
  DesiredChangeKind,
} from './sync/assignment-state.js';
export { DesiredSet } from './sync/desired-set.js';
export type { DesiredListener } from './sync/desired-set.js';

// Images: pulls for the desired pods, disk-threshold GC
export * from './images/index.js';

// Heartbeats and resync answers (pure)
export { buildHeartbeat } from './report/heartbeat.js';
export type { HeartbeatInput } from './report/heartbeat.js';
export type { ResyncSummary } from './report/resync.js';

// Validation and retry helpers
export {
  parseHostPort,
  parseDuration,
  parseNatsUrls,
  parseCaCertHash,
  parseJoinToken,
  parseIpAddress,
  parseNodeName,
  parsePercent,
  parseRegistryHost,
} from './options/validate.js';
export { backoffDelay, defaultBackoff } from './util/backoff.js';
export type { BackoffPolicy } from './util/backoff.js';
export { isRetryable } from './util/retry.js';

// Pod networking: CNI config list (pure), netns + plugin executor
export * from './network/index.js';

// The node's cluster DNS (codec and resolver pure; the server on the pod bridge's gateway)
export * from './dns/index.js';

// Runtime: a pod container's OCI runtime config (pure) and the default seccomp profile
export * from './runtime/spec/index.js';

// Containers under conmon (runc + conmon): create/start/stop/remove, state, CRI logs
export * from './runtime/conmon/index.js';

// The Agent gRPC service (logs, exec, attach) and its TLS server
export { createAgentService, type AgentServiceDeps } from './server/agent-service.js';
export type { ContainerHandle, PodRuntimeView } from './pods/types.js';
export {
  startAgentServer,
  defaultAgentPort,
  type AgentServerOptions,
  type RunningAgentServer,
} from './server/agent-server.js';
export { parseAgentListen, agentListenAddress, type AgentListen } from './server/listen.js';
export {
  parseSinceTime,
  parseTailLines,
  execStartOf,
  attachStartOf,
  validSize,
  toWireEntry,
} from './server/requests.js';

// Lifecycle: restart policy with crash-loop back-off, probes and their scheduler
export * from './lifecycle/index.js';

// The pod manager: the reconcile loop from desired pods to containers, their status
export * from './pods/index.js';
export {
  SpawnServer,
  CommandError,
  spawnDirect,
  runAgentCommand,
  useSpawnServer,
  spawnServerScriptPath,
  startDetached,
  startDetachedDirect,
  type CommandOptions,
  type CommandResult,
  type DetachedOptions,
  type ServerOp,
} from './runtime/spawn-server.js';
export {
  decodeReply as decodeSpawnReply,
  encodeRequest as encodeSpawnRequest,
  splitFrames as splitSpawnFrames,
  type SpawnReply,
  type SpawnRequest,
} from './runtime/spawn-server-frames.js';
export { mountAt as agentMountAt, unmount as agentUnmount, mountSyscall } from './runtime/mounts.js';
