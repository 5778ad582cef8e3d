// Probes as Kubernetes' v1.Probe, their defaults, the validator and named-port resolution:
// the one implementation lives in @flotilla/common (pods/probe-rules.ts), shared with the
// controller's pod validation; re-exported here for the lifecycle layer and its callers.
export {
  probeField,
  probeDefaults,
  probeErrors,
  probeProblems,
  resolveProbe,
  resolveProbePort,
  type ExecAction,
  type HTTPGetAction,
  type NamedPort,
  type Probe,
  type ProbeHttpHeader,
  type ProbeKind,
  type ProbeProblem,
  type ResolvedProbe,
  type ResolvedProbeAction,
  type TCPSocketAction,
} from '@flotilla/common';
