// @flotilla/controller: the control plane as a library (for the CLI and the tests) and
// the pure decisions it is made of (for unit tests without servers).

// Running it
export {
  startController,
  clientAddress,
  defaultNodeGraceMs,
  defaultLeaseTtlMs,
  type ControllerOptions,
  type RunningController,
} from './controller.js';
export {
  initFiles as initCluster,
  dataDirLayout,
  type InitFilesOptions as InitClusterOptions,
  type InitResult,
  type DataDirLayout,
} from './bootstrap/init.js';
export { ensureClusterSecrets, type ClusterSecrets } from './bootstrap/cluster-secrets.js';
export {
  controllerServerName,
  issueServingCertificate,
  servingNames,
  type ServingCertificate,
  type ServingNames,
} from './bootstrap/serving-cert.js';
export {
  parseCommandLine,
  usage,
  flagSpecs,
  envName,
  type ParsedOptions,
  type Command,
} from './options/flags.js';
export {
  parseDuration,
  parseHostPort,
  parseUrls,
  formatDuration,
  formatHostPort,
  type HostPort,
} from './options/parse.js';
export { controllerVersion } from './version.js';
export { parseControllers, loopNames, type LoopName } from './options/loops.js';

// Store
export type {
  Store,
  Codec,
  Entry,
  ListResult,
  CreateResult,
  WatchEvent,
  TxnOp,
  TxnResult,
  PrefixState,
} from './store/types.js';
export { CompactedError, isCompactedError, maxTxnOps, putOp } from './store/types.js';
export { EtcdStore, watchSliceEvents, watchSliceMs, type EtcdStoreOptions } from './store/etcd-store.js';
export { MemoryStore } from './store/memory-store.js';
export { Informer, type InformerChange, type InformerListener, type WatchSource } from './store/informer.js';
export { modify, type Mutation } from './store/modify.js';
export { keys, rootPrefix } from './store/keys.js';
export {
  nodeCodec,
  podCodec,
  jsonCodec,
  namespaceCodec,
  deploymentCodec,
  replicaSetCodec,
  serviceCodec,
  endpointsCodec,
  eventCodec,
} from './store/codecs.js';
export type { EventRecorder, EventInput, EventType } from './events/recorder.js';
export { discardEvents } from './events/recorder.js';

// Join tokens
export {
  validateJoinToken,
  joinTokenId,
  generateJoinToken,
  tokenTtlMs,
  newJoinTokenRecord,
  toJoinTokenMessage,
  defaultTokenTtlMs,
  minTokenTtlMs,
  maxTokenTtlMs,
  type JoinTokenRecord,
  type TokenVerdict,
} from './tokens/join-token.js';
export { JoinTokenStore, joinTokenCodec } from './tokens/token-store.js';

// Decisions
export { decideNodeLiveness, LastSeen, type NodeLivenessUpdate } from './reconcile/node-liveness.js';
export { NodeLifecycleLoop, type NodeLifecycleOptions } from './reconcile/node-lifecycle.js';
export {
  decideEvictions,
  evictionCandidates,
  evictionEpisode,
  RateLimiter,
  defaultEvictionTimeoutMs,
  defaultEvictionRatePerSecond,
  defaultEvictionBurst,
  defaultMassSilenceFraction,
  type EvictionPolicy,
  type EvictionSnapshot,
  type EvictionDecision,
  type EvictionCandidates,
  type NodeEviction,
} from './reconcile/node-eviction.js';

// Leader election
export {
  commitAsLeader,
  notLeader,
  soleCandidate,
  type Candidate,
  type Leadership,
} from './leader/candidate.js';
export { EtcdCandidate, type EtcdCandidateOptions } from './leader/etcd-candidate.js';
export {
  LeaderElector,
  untilAborted,
  type LeaderLoop,
  type LeaderElectorOptions,
} from './leader/leader-elector.js';
export { heartbeatUpdate, heartbeatProblem, heartbeatRefreshMs } from './status/heartbeat-decision.js';
export { HeartbeatIngest } from './status/heartbeat-ingest.js';
export {
  decideStatusReport,
  reportProblem,
  ReportSequences,
  type StatusDecision,
} from './status/pod-status-decision.js';
export { PodStatusIngest, type PodStatusIngestOptions } from './status/pod-status-ingest.js';
export {
  podProblems,
  validatePod,
  metadataProblems,
  validateDnsLabel,
  validatePortName,
  hostPortsCollide,
  type PodProblem,
} from './pods/validate-pod.js';
export {
  newPod,
  defaultImagePullPolicy,
  podAnnotations,
  defaultNamespace,
  defaultTerminationGracePeriodSeconds,
} from './pods/defaults.js';
// Scheduler
export {
  podDemand,
  isPodFinished,
  spreadGroupOf,
  type PodDemand,
  type HostPortClaim,
} from './scheduler/pod-demand.js';
export { SchedulingSnapshot, zoneLabel, type NodeInfo } from './scheduler/snapshot.js';
export {
  rejections,
  tolerates,
  requirementHolds,
  termMatches,
  nodeReady,
  nodeSchedulable,
  taintToleration,
  nodeAffinity,
  hostPortsFree,
  resourcesFit,
  type Filter,
} from './scheduler/filters.js';
export {
  resourceAllocation,
  spreadGroup,
  imageLocality,
  preferNoScheduleTaints,
  preferredNodeAffinity,
  maxScore,
  type Scorer,
  type ResourceStrategy,
} from './scheduler/scorers.js';
export {
  schedulerProfile,
  feasibleNodesToFind,
  type SchedulerProfile,
  type ProfileOptions,
} from './scheduler/profile.js';
export { unschedulableMessage } from './scheduler/message.js';
export {
  Planner,
  planBatch,
  seededRandom,
  type Placement,
  type PendingPod,
  type Binding,
  type Unschedulable,
  type Plan,
} from './scheduler/planner.js';
export {
  SchedulerLoop,
  startScheduler,
  isPending,
  maxBatchSize,
  type SchedulerOptions,
  type RunningScheduler,
} from './scheduler/loop.js';
export { mergePodUpdate, markDeleted, deletionGrace, jsonDifferences } from './pods/lifecycle.js';
export { podEventFor, podMatches, type PodFilter } from './pods/pod-events.js';
export { scaledQuantity, resourceAmount } from './pods/quantity.js';
export { assignmentForEvent, streamAssignments, defaultBookmarkIntervalMs } from './api/assignments.js';
export {
  parseLabelSelector,
  matchesLabels,
  validateLabelKey,
  validateLabelValue,
  type LabelSelector,
  type Requirement,
} from './labels/labels.js';
export { mergeRegistration, validateRegistration, nodeApiVersion, nodeKind } from './nodes/registration.js';
// The cluster network (issue 6): pod CIDRs, NetworkState, endpoints drain
export {
  allocatePodCidr,
  nextFreeBlock,
  parsePodCidrConfig,
  parseBlock,
  formatBlock,
  overlaps,
  blockOfAllocationKey,
  defaultNodeCidrMaskSize,
  type CidrBlock,
  type HeldBlock,
  type PodCidrConfig,
} from './nodes/pod-cidr.js';
export {
  planRegistration,
  registerWithPodCidr,
  nodeDeleteOps,
  heldBlocks,
  needsPodCidr,
  type RegistrationPlan,
} from './nodes/registration.js';
export {
  buildNetworkState,
  buildSharedNetwork,
  networkFieldsChanged,
  networkNodes,
  serviceRoutes,
  networkStateFor,
  networkDeltaFor,
  diffSharedNetwork,
  mergeNetworkChanges,
  isWebFacing,
  internalIpOf,
  type NetworkChange,
  type NetworkConfig,
  type NetworkSnapshot,
  type SharedNetwork,
} from './network/state.js';
export {
  drainDecision,
  servicesListing,
  pendingNodes,
  isPodAddress,
  type DrainInput,
  type DrainVerdict,
  type DrainingPod,
} from './network/drain.js';
export {
  ControllerClusterNetwork,
  startClusterNetwork,
  coalesceDelayMs,
  followersDelayMs,
  messageCostEntries,
  heldChanges,
  defaultCoalesceMs,
  maxCoalesceMs,
  maxDrainTimeoutMs,
  type ControllerClusterNetworkOptions,
  type StartClusterNetworkOptions,
} from './network/cluster-network.js';
export type { ClusterNetwork, FollowOptions } from './network/types.js';
export {
  readyCondition,
  isNodeReady,
  withReadyCondition,
  reasons as readyReasons,
  type ReadyChange,
  type ConditionStatus,
} from './nodes/conditions.js';

// Deployments → ReplicaSets → pods
export {
  annotations as deploymentAnnotations,
  labels as deploymentLabels,
  canonicalJson,
  templateHash,
  templateWithoutHash,
  sameTemplate,
  replicaSetName,
  revisionOf,
  ownerReference,
  controllerOf,
  ownedReplicaSets,
  ownedPods,
} from './deployments/revisions.js';
export { isPodActive, isPodReady, isPodAvailable, readySince } from './deployments/pod-availability.js';
export {
  rolloutBounds,
  resolveIntOrPercent,
  desiredReplicas,
  progressDeadlineSeconds,
  revisionHistoryLimit,
  type RolloutBounds,
} from './deployments/rollout-bounds.js';
export {
  conditionReasons as deploymentConditionReasons,
  getCondition,
} from './deployments/deployment-conditions.js';
export {
  decideDeployment,
  rolloutFailed,
  referenceTo,
  scalingAnnotations,
  type DeploymentDecisionInput,
  type DeploymentPlan,
} from './deployments/deployment-decision.js';
export {
  decideReplicaSet,
  deletionOrder,
  podForReplicaSet,
  randomSuffix,
  replicaSetStatus,
  replicasOf,
  type ReplicaSetPlan,
  type ReplicaSetDecisionInput,
} from './deployments/replica-set-decision.js';
export {
  undoDeployment,
  setPaused,
  restartDeployment,
  scaleObject,
  type UndoResult,
} from './deployments/rollout.js';
export {
  startDeploymentLoop,
  type DeploymentLoop,
  type DeploymentLoopOptions,
} from './deployments/deployment-loop.js';
export { Expectations, isSeen, type CopyState, type Expectation } from './deployments/expectations.js';
export { OwnerIndex } from './deployments/owner-index.js';
export { StatusBudget } from './deployments/status-budget.js';
export { WorkQueue } from './util/work-queue.js';
export { createDeploymentService, type DeploymentServiceDeps } from './api/deployment-service.js';

// API pieces, for tests that serve them over an in-memory store
export { createClusterService, type ClusterDeps, type ComponentProbes } from './api/cluster-service.js';
export { createNodeGatewayService, signNodeJwt, type NodeGatewayDeps } from './api/node-gateway-service.js';
export { createPodService, type PodServiceDeps } from './api/pod-service.js';
export { startGrpcServer, type GrpcServerOptions, type RunningGrpcServer } from './api/server.js';
export { AgentClients, agentChannel, checkNodeIdentity, type AgentDialTls } from './api/agent-clients.js';
export {
  createPodStreamService,
  agentAddressOf,
  type PodStreamDeps,
  type PodTarget,
} from './api/pod-stream-service.js';

// The object API (issue 5): kinds, validation, apply planning, events, garbage collection
export {
  kinds,
  kindNames,
  kindOf,
  nameProblem,
  unwrapObject,
  wrapObject,
  type KindName,
  type KindInfo,
  type KindedObject,
  type StoredObject,
} from './objects/kinds.js';
export {
  prepareApply,
  planApply,
  planDeployment,
  planService,
  planNamespace,
  planPod,
  pickFree,
  allocationCodec,
  clusterAnnotationPrefixes,
  type ApplyAction,
  type ApplySnapshot,
  type ApplyPlan,
  type PlanContext,
  type Prepared,
  type PreparedObject,
  type AllocationOwner,
} from './objects/apply-plan.js';
export {
  defaultDeployment,
  deploymentProblems,
  deploymentDefaults,
  maxUnavailableOf,
} from './objects/deployment.js';
export {
  defaultService,
  serviceProblems,
  parseCidr,
  inCidr,
  ipv4ToNumber,
  numberToIpv4,
  nodePortRange,
  defaultServiceCidr,
  type Cidr,
} from './objects/service.js';
export { checkLabelSelector, selectorMatches } from './objects/selector.js';
export {
  parseIntOrPercent,
  resolveIntOrPercent as resolveParsedIntOrPercent,
  type IntOrPercent,
} from './objects/int-or-percent.js';
export {
  parseEventFieldSelector,
  eventMatchesFields,
  objectMatches,
  objectEventFor,
  type ObjectFilter,
} from './objects/filter.js';
export { evictionVerdict, type EvictionVerdict } from './objects/eviction.js';
export { findGarbage, type GarbageAction, type GarbageSnapshot } from './objects/garbage.js';
export { GarbageCollector, type GarbageCollectorOptions } from './objects/garbage-collector.js';
export { serviceDeleteOps } from './objects/service-release.js';
export { ensureDefaultNamespace } from './objects/default-namespace.js';
export { deletePod, type PodDeletionOptions } from './pods/delete-pod.js';
export {
  StoreEventRecorder,
  defaultEventTtlMs,
  type StoreEventRecorderOptions,
} from './events/store-recorder.js';
export { createObjectService, type ObjectServiceDeps, type ObjectMethods } from './api/object-service.js';
export { PodWatchHub } from './api/pod-watch-hub.js';
export { copyIsCurrent, sharedPodStore, type SharedPods } from './store/shared-pods.js';

// Endpoints (issue 6): the pure decision, the ready targets a proxy balances over, the loop
export {
  desiredEndpoints,
  decideEndpointsWrite,
  resolveTargetPort,
  podReady as endpointPodReady,
  podEligible as endpointPodEligible,
  hasSelector,
  selectorMatches as serviceSelectorMatches,
  readyTargets,
  type DesiredEndpoints,
  type EndpointsAction,
  type ReadyTarget,
  type StoredEndpoints,
  type WriteContext,
} from './endpoints/decide.js';
export { startEndpointsLoop, type EndpointsLoop, type EndpointsLoopOptions } from './endpoints/loop.js';
export { verifiedPeer } from './api/auth.js';
