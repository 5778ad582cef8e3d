// Types of the conmon layer: where a runner keeps its files, and what it says about a
// container. Everything here is data; runner.ts does the I/O.

/** Where one runner keeps its state; two agents on a host must not share any of these. */
export interface RunnerRoots {
  /** runc's state directory (runc --root): one per agent. */
  runcRoot: string;
  /** The runner's own directory: exit files, one persist dir per container, attach sockets. */
  stateDir: string;
}

/** The files of one container under a runner's state directory. */
export interface ContainerPaths {
  /** conmon writes the exit code here when the container's process ends (--exit-dir/<id>). */
  exitFile: string;
  exitDir: string;
  /** conmon's persist dir: its "exit" and "oom" files, pid files. */
  persistDir: string;
  /** The container's init pid, written by runc create (conmon -p). */
  pidFile: string;
  /** conmon's own pid (conmon -P). */
  conmonPidFile: string;
  /** The default CRI log file when the caller names none. */
  defaultLogPath: string;
  socketDir: string;
}

/** What runc says about a container (`runc list`), as far as this layer needs it. */
export interface RuncEntry {
  id: string;
  /** created | running | paused | stopped (anything else is kept, not trusted). */
  status: string;
  pid: number;
}

/** What conmon recorded when a container's process ended. */
export interface ExitRecord {
  /** The exit code; 128 + the signal number when a signal ended it (137 = SIGKILL). */
  exitCode: number;
  /** When conmon wrote the exit file. */
  finishedAt: Date;
  /** The kernel's OOM killer ended it (conmon's "oom" file). */
  oomKilled: boolean;
}

export type ContainerState =
  | { status: 'created'; id: string; pid: number }
  | { status: 'running'; id: string; pid: number; paused: boolean }
  | ({ status: 'exited'; id: string; reason: 'Completed' | 'Error' | 'OOMKilled' } & ExitRecord)
  | { status: 'unknown'; id: string; reason: string };
