// What a pod's status means in Docker's words, and what `deploy run` does about it. Pure.
import type { Container, ContainerStatus, Pod } from '@flotilla/proto';

/** The container `deploy run` made (named like the pod), else the first one. */
export function mainContainer(pod: Pod): Container | undefined {
  const containers = pod.spec?.containers ?? [];
  return containers.find((c) => c.name === pod.metadata?.name) ?? containers[0];
}

export function containerStatusOf(pod: Pod, name?: string): ContainerStatus | undefined {
  const want = name ?? mainContainer(pod)?.name;
  const statuses = pod.status?.containerStatuses ?? [];
  return statuses.find((s) => s.name === want) ?? (name === undefined ? statuses[0] : undefined);
}

/** Docker's State.Status words. */
export type DockerState = 'created' | 'running' | 'restarting' | 'exited' | 'removing' | 'dead';

export function dockerState(pod: Pod): DockerState {
  if (pod.metadata?.deletionTimestamp) return 'removing';
  const status = containerStatusOf(pod);
  if (!status)
    return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed' ? 'exited' : 'created';
  if (status.state?.running) return 'running';
  if (status.state?.terminated) return 'exited';
  if (status.state?.waiting?.reason === 'CrashLoopBackOff') return 'restarting';
  if (status.state?.waiting && status.lastState?.terminated) {
    return pod.spec?.stopped ? 'exited' : 'restarting';
  }
  return 'created';
}

/** The exit code as a shell shows it: a signal death is 128 + the signal. */
export function exitCodeOf(terminated: { exitCode: number; signal: number }): number {
  if (terminated.exitCode === 0 && terminated.signal > 0) return 128 + terminated.signal;
  return terminated.exitCode;
}

/** Waiting reasons that mean the container will not run without the user fixing something. */
const failedWaiting = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'RegistryUnavailable',
  'CreateContainerError',
  'CreateContainerConfigError',
  'RunContainerError',
  'ContainerCannotRun',
]);

/** Failures after which docker would not have created a container at all. */
const imageFailures = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);

export type RunProgress =
  | { kind: 'waiting' }
  | { kind: 'running' }
  | { kind: 'exited'; code: number }
  /** The container could not start: 125 (daemon side), 126 (cannot run), 127 (not found). */
  | { kind: 'failed'; code: number; reason: string; message: string; noContainer: boolean }
  | { kind: 'gone' };

/**
 * Failures while the runtime starts the process: what `docker start` does after the
 * create, where Docker reads 126/127 out of the error's text. Everything earlier (the
 * image, the pod's files and volumes, scheduling) is the daemon's side: 125.
 */
const startFailures = new Set([
  'CreateContainerError',
  'RunContainerError',
  'ContainerCannotRun',
  'StartError',
]);

/** docker's exit code for a container that could not run, from the reason and message. */
export function failureCode(reason: string, message: string): number {
  return startFailures.has(reason) ? cannotRunCode(reason, message) : 125;
}

/** docker's exit code for a start that failed, from the runtime's message (its run.go's rule). */
export function cannotRunCode(reason: string, message: string): number {
  const text = `${reason} ${message}`;
  if (
    /executable file not found|no such file or directory|command not found|not found in \$PATH/i.test(text)
  ) {
    return 127;
  }
  if (/permission denied|exec format error|cannot execute|is a directory/i.test(text)) return 126;
  return 125;
}

/**
 * Where the run of the main container stands. restartsBefore is its restartCount when the
 * CLI created or attached to it: a higher count with a terminated lastState is an exit
 * the CLI missed between two events.
 */
export function runProgress(pod: Pod | undefined, restartsBefore = 0): RunProgress {
  if (!pod) return { kind: 'gone' };
  const scheduled = pod.status?.conditions.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    return {
      kind: 'failed',
      code: 125,
      reason: 'Unschedulable',
      message: scheduled.message || 'no node fits the pod',
      noContainer: true,
    };
  }
  const status = containerStatusOf(pod);
  const terminated = status?.state?.terminated;
  if (terminated) {
    if (terminated.reason === 'ContainerCannotRun' || terminated.reason === 'StartError') {
      return {
        kind: 'failed',
        code: failureCode(terminated.reason, terminated.message),
        reason: terminated.reason,
        message: terminated.message,
        noContainer: false,
      };
    }
    return { kind: 'exited', code: exitCodeOf(terminated) };
  }
  const last = status?.lastState?.terminated;
  if (last && status && status.restartCount > restartsBefore)
    return { kind: 'exited', code: exitCodeOf(last) };
  const waiting = status?.state?.waiting;
  if (waiting && failedWaiting.has(waiting.reason)) {
    return {
      kind: 'failed',
      code: failureCode(waiting.reason, waiting.message),
      reason: waiting.reason,
      message: waiting.message,
      noContainer: imageFailures.has(waiting.reason),
    };
  }
  if (status?.state?.running) return { kind: 'running' };
  const phase = pod.status?.phase;
  if ((phase === 'Failed' || phase === 'Succeeded') && !status) {
    return {
      kind: 'failed',
      code: 125,
      reason: pod.status?.reason || phase,
      message:
        pod.status?.message || `the pod ${phase === 'Failed' ? 'failed' : 'ended'} before its container ran`,
      noContainer: false,
    };
  }
  return { kind: 'waiting' };
}

/** What `deploy run -d` does about the pod as it now is. */
export type DetachedStart =
  /** Not started yet (being scheduled, pulling, created): follow it on. */
  | { kind: 'wait' }
  /** Its container runs, or ran and exited (docker run -d prints the ID and exits 0 then too). */
  | { kind: 'started' }
  /**
   * It cannot start: exit with code (125 daemon side, 126 cannot run, 127 not found),
   * saying reason and message; remove: the pod goes (--rm, or there is no container to keep,
   * as docker creates none when it cannot have the image).
   */
  | { kind: 'failed'; code: number; reason: string; message: string; remove: boolean };

/** The decision of `deploy run -d` for the pod as it is (undefined: it is gone). Pure. */
export function detachedStart(pod: Pod | undefined, rm: boolean): DetachedStart {
  const progress = runProgress(pod);
  switch (progress.kind) {
    case 'waiting':
      return { kind: 'wait' };
    case 'running':
    case 'exited':
      return { kind: 'started' };
    case 'failed':
      return {
        kind: 'failed',
        code: progress.code,
        reason: progress.reason,
        message: progress.message,
        remove: rm || progress.noContainer,
      };
    case 'gone':
      return {
        kind: 'failed',
        code: 125,
        reason: 'Removed',
        message: 'the pod was removed before its container started',
        remove: false,
      };
  }
}

/** What to fix for a start that failed with docker's 126 or 127, else undefined. Pure. */
export function startFailureHint(code: number): string | undefined {
  if (code === 127)
    return "the command is not in the image: check COMMAND, or the image's Entrypoint and PATH";
  if (code === 126)
    return 'the command cannot be executed: check that it is an executable file for this platform';
  return undefined;
}

/** True while any container of the pod runs (what `deploy ps` without -a lists, and rm refuses). */
export function hasRunningContainer(pod: Pod): boolean {
  return (pod.status?.containerStatuses ?? []).some((s) => s.state?.running !== undefined);
}

/** True once every container stopped (deploy stop waits for it). */
export function allContainersStopped(pod: Pod): boolean {
  return (pod.status?.containerStatuses ?? []).every((s) => s.state?.running === undefined);
}

/** "web" or "web/sidecar" -> the pod and the container (undefined: the pod's only one). */
export function splitPodContainer(text: string): { pod: string; container?: string } {
  const slash = text.indexOf('/');
  if (slash < 0) return { pod: text };
  return { pod: text.slice(0, slash), container: text.slice(slash + 1) };
}
