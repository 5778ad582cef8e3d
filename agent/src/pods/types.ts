// The contract between the pod manager (which runs pods) and the agent's gRPC server
// (logs, exec, attach): how the server finds the container a request names. The pod
// manager implements it; the server only reads it.

/** One container of a pod as it runs now on this node. */
export interface ContainerHandle {
  namespace: string;
  pod: string;
  uid: string;
  /** The container's name in the pod spec. */
  container: string;
  /** The runc id of the current run (runc --root is the runner's). */
  containerId: string;
  /** The current run's CRI log file. */
  logPath: string;
  /** The previous run's id and log file, after a restart (logs --previous). */
  previous?: { containerId: string; logPath: string };
  /** The current run's process is alive (runc says running). */
  running: boolean;
  /** The container was created with a terminal (spec tty). */
  tty: boolean;
  /** The container keeps a stdin open (spec stdin). */
  stdin: boolean;
}

export interface PodRuntimeView {
  /**
   * The container a request names. container may be empty when the pod has exactly one;
   * uid, when given, must match the pod's. Throws a FlotillaError: NotFound (no such
   * pod or container on this node), InvalidArgument (container empty but several).
   */
  container(namespace: string, pod: string, container: string, uid?: string): ContainerHandle;
  /** Resolves when the named run ends, with its exit code; at once if it ended already. */
  waitExit(containerId: string, signal?: AbortSignal): Promise<{ exitCode: number; reason: string }>;
}
