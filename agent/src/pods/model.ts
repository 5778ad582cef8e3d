// The pod manager's own data, pure: what it persists per pod (the record), the names it
// derives (container IDs, directories), and the one conversion of the proto's probes into
// the lifecycle layer's. A restarted agent re-derives everything else from runc, conmon's
// exit files and the network records; the record holds only what cannot be re-derived.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { invalidArgument, probeFromWire } from '@flotilla/common';
import type { Container, Pod, Probe as ProtoProbe } from '@flotilla/proto';
import type { Probe } from '../lifecycle/probe.js';
import type { RestartPolicy } from '../lifecycle/restart.js';

/** The annotation `deploy start` sets: a new value runs the pod's terminated containers again. */
export const restartedAtAnnotation = 'flotilla.io/restartedAt';

/** Kubernetes' default terminationGracePeriodSeconds. */
export const defaultGraceSeconds = 30;

/** How one run of a container ended. Times are RFC 3339. */
export interface TerminationRecord {
  exitCode: number;
  /** The signal that ended it (exit code 128 + n), 0 for a normal exit. */
  signal: number;
  reason: string;
  message?: string;
  startedAt: string;
  finishedAt: string;
  containerId: string;
}

/** One run of a container: a runc container with its own ID, bundle and log file. */
export interface RunRecord {
  run: number;
  id: string;
  logPath: string;
  startedAt: string;
  /** Filled in once the manager saw the exit (conmon's exit file). */
  termination?: TerminationRecord;
  /** Why the agent stopped it, when it did (liveness failure, deploy stop). */
  stopReason?: string;
}

export interface ContainerRecord {
  name: string;
  /** Runs after the first (Kubernetes' restartCount). */
  restartCount: number;
  /** decideRestart's back-off steps since the last reset. */
  backoffSteps: number;
  current?: RunRecord;
  /** The run before the current one: its termination is lastState, its log is logs --previous. */
  previous?: RunRecord;
}

/** Everything persisted for one pod, atomically replaced as JSON. */
export interface PodRecord {
  version: 1;
  namespace: string;
  name: string;
  uid: string;
  /** When the agent first took the pod on (status.startTime). */
  startTime: string;
  /** The restartedAt annotation value last honoured ('' for none). */
  restartedAt: string;
  /** The terminationGracePeriodSeconds of the last pod object seen (for a DELETED without one). */
  graceSeconds: number;
  containers: Record<string, ContainerRecord>;
}

export function podKeyOf(namespace: string, name: string): string {
  return `${namespace || 'default'}/${name}`;
}

/** The uid as a short, filename- and runc-safe token. */
export function uidToken(uid: string): string {
  const token = uid.replace(/[^A-Za-z0-9]/g, '').toLowerCase();
  if (token.length < 8) {
    throw invalidArgument(
      `pod UID ${JSON.stringify(uid)} is too short: it must have at least 8 letters or digits`,
      {
        field: 'metadata.uid',
        value: uid,
      },
    );
  }
  return token.slice(0, 16);
}

/**
 * The runc ID of one run: uid, container name and run number, so a restarted agent can
 * tell whose container it is and two runs never share an ID. Short enough for conmon's
 * attach socket path; a long name is cut and made unique again with a hash.
 */
export function containerRunId(uid: string, container: string, run: number): string {
  const safe = container.replace(/[^A-Za-z0-9_.-]/g, '-');
  const name =
    safe.length <= 20 && safe === container
      ? safe
      : `${safe.slice(0, 12)}-${createHash('sha256').update(container).digest('hex').slice(0, 7)}`;
  return `${uidToken(uid)}-${name}-${run}`;
}

/** The directory of one pod under the manager's pods directory. */
export function podDir(podsDir: string, uid: string): string {
  return join(podsDir, uidToken(uid));
}

export interface PodPaths {
  dir: string;
  record: string;
  volumes: string;
  etc: string;
  runs: string;
  logs: string;
}

export function podPaths(podsDir: string, uid: string): PodPaths {
  const dir = podDir(podsDir, uid);
  return {
    dir,
    record: join(dir, 'pod.json'),
    volumes: join(dir, 'volumes'),
    etc: join(dir, 'etc'),
    runs: join(dir, 'runs'),
    logs: join(dir, 'logs'),
  };
}

/** A run's bundle: config.json, rootfs (the overlay mount point), upper and work dirs. */
export function runDir(podsDir: string, uid: string, id: string): string {
  return join(podPaths(podsDir, uid).runs, id);
}

export function runLogPath(podsDir: string, uid: string, container: string, run: number): string {
  return join(podPaths(podsDir, uid).logs, container, `${run}.log`);
}

export function restartPolicyOf(pod: Pod): RestartPolicy {
  const policy = pod.spec?.restartPolicy ?? '';
  return policy === 'Never' || policy === 'OnFailure' ? policy : 'Always';
}

/** The grace a stop gets: the deletion's, else the spec's, else 30 s. */
export function graceSecondsOf(pod: Pod | undefined, fallback = defaultGraceSeconds): number {
  const deletion = pod?.metadata?.deletionGracePeriodSeconds;
  if (pod?.metadata?.deletionTimestamp && deletion !== undefined) return Math.max(0, deletion);
  const spec = pod?.spec?.terminationGracePeriodSeconds;
  if (spec !== undefined) return Math.max(0, spec);
  return fallback;
}

/**
 * The proto's Probe as the lifecycle layer's: ports are strings on the wire ("8080" or a
 * port name); a numeric string becomes a number. The conversion is @flotilla/common's
 * probeFromWire, the one the controller validates with.
 */
export function lifecycleProbe(probe: ProtoProbe): Probe {
  return probeFromWire(probe);
}

/** The container's probes by kind, converted (unvalidated). */
export function containerProbes(
  container: Container,
): { kind: 'liveness' | 'readiness' | 'startup'; probe: Probe }[] {
  const out: { kind: 'liveness' | 'readiness' | 'startup'; probe: Probe }[] = [];
  if (container.startupProbe !== undefined)
    out.push({ kind: 'startup', probe: lifecycleProbe(container.startupProbe) });
  if (container.livenessProbe !== undefined)
    out.push({ kind: 'liveness', probe: lifecycleProbe(container.livenessProbe) });
  if (container.readinessProbe !== undefined)
    out.push({ kind: 'readiness', probe: lifecycleProbe(container.readinessProbe) });
  return out;
}

/** A fresh record for a pod the agent takes on now. */
export function newPodRecord(pod: Pod, now: Date): PodRecord {
  const containers: Record<string, ContainerRecord> = {};
  for (const c of pod.spec?.containers ?? [])
    containers[c.name] = { name: c.name, restartCount: 0, backoffSteps: 0 };
  return {
    version: 1,
    namespace: pod.metadata?.namespace || 'default',
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
    startTime: now.toISOString(),
    restartedAt: pod.metadata?.annotations[restartedAtAnnotation] ?? '',
    graceSeconds: graceSecondsOf(pod),
    containers,
  };
}

/** Whether a parsed JSON value is a PodRecord this version wrote. */
export function isPodRecord(value: unknown): value is PodRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<PodRecord>;
  return (
    r.version === 1 &&
    typeof r.namespace === 'string' &&
    typeof r.name === 'string' &&
    typeof r.uid === 'string' &&
    typeof r.containers === 'object' &&
    r.containers !== null
  );
}
