// What `deploy up|down|status` do to a local cluster from outside: look at it, start its
// supervisor, stop it. Every signal goes to a PID we recorded, and only after /proc shows
// it still runs what we started.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { Logger } from '@flotilla/common';
import { type Layout, type LocalPorts, localLayout } from './layout.js';
import { type ClusterState, type ComponentRecord, readClusterState, writeClusterState } from './state.js';
import { isOurProcess, isOurSupervisor, signalPid, waitForExit, waitForReaped } from './procs.js';
import { supervisorPath } from './executables.js';
import { unmountUnder } from './mounts.js';

export interface LocalClusterView {
  layout: Layout;
  /** Undefined when no local cluster was ever started in the data directory. */
  state: ClusterState | undefined;
  /** The recorded supervisor is alive and is the supervisor of this data directory. */
  supervisorAlive: boolean;
  /** Recorded components whose PID still runs the recorded command. */
  liveComponents: ComponentRecord[];
}

export async function inspectLocalCluster(dataDir: string): Promise<LocalClusterView> {
  const layout = localLayout(dataDir);
  const state = await readClusterState(layout.clusterState);
  const supervisorAlive = state?.supervisorPid ? await isOurSupervisor(state.supervisorPid, dataDir) : false;
  const liveComponents: ComponentRecord[] = [];
  for (const c of state?.components ?? []) {
    if (c.pid && (await isOurProcess(c.pid, c.command))) liveComponents.push(c);
  }
  return { layout, state, supervisorAlive, liveComponents };
}

export function isRunning(view: LocalClusterView): boolean {
  return view.supervisorAlive || view.liveComponents.length > 0;
}

export interface StartOptions {
  layout: Layout;
  ports: LocalPorts;
  logLevel: string;
  env: NodeJS.ProcessEnv;
  /** `deploy up --nodes N`: the hosts it made, on this /24. */
  hosts?: { nodes: number; subnet: string };
}

/** Starts a detached supervisor (its own session) and returns its PID. */
export async function startSupervisor(options: StartOptions): Promise<number> {
  const { layout, ports } = options;
  await mkdir(layout.logsDir, { recursive: true });
  const fd = openSync(layout.supervisorLog, 'a');
  try {
    const child = spawn(
      process.execPath,
      [
        supervisorPath,
        '--data-dir',
        layout.dataDir,
        '--etcd-port',
        String(ports.etcd),
        '--etcd-peer-port',
        String(ports.etcdPeer),
        '--nats-port',
        String(ports.nats),
        '--registry-port',
        String(ports.registry),
        '--api-port',
        String(ports.api),
        '--log-level',
        options.logLevel,
        ...(options.hosts
          ? ['--nodes', String(options.hosts.nodes), '--hosts-subnet', options.hosts.subnet]
          : []),
      ],
      // The data directory as working directory: the cluster must not pin the caller's.
      { detached: true, stdio: ['ignore', fd, fd], cwd: layout.dataDir, env: options.env },
    );
    child.unref();
    if (child.pid === undefined) throw new Error(`cannot start ${supervisorPath}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export interface StopResult {
  /** Something was running and was stopped. */
  stoppedSomething: boolean;
  /** PIDs still alive after everything we tried. */
  survivors: number[];
  unmounted: string[];
  mountsLeft: string[];
}

async function killVerified(records: readonly ComponentRecord[], signal: NodeJS.Signals): Promise<number[]> {
  const signalled: number[] = [];
  for (const c of records) {
    if (c.pid && (await isOurProcess(c.pid, c.command)) && signalPid(c.pid, signal)) signalled.push(c.pid);
  }
  return signalled;
}

/**
 * Stops the supervisor (which stops its children), or, when it is gone, the children it
 * left; then unmounts whatever is left below the data directory.
 */
export async function stopLocalCluster(
  view: LocalClusterView,
  logger: Logger,
  timeoutMs = 60_000,
): Promise<StopResult> {
  const { layout, state } = view;
  let stoppedSomething = false;
  const componentPids = view.liveComponents.map((c) => c.pid).filter((p): p is number => p !== null);
  if (state?.supervisorPid && view.supervisorAlive) {
    stoppedSomething = true;
    logger.info('signalling supervisor', { pid: state.supervisorPid });
    signalPid(state.supervisorPid, 'SIGTERM');
    const left = await waitForExit([state.supervisorPid, ...componentPids], timeoutMs);
    if (left.length > 0) {
      logger.warn('supervisor did not finish in time; killing what is left', { pids: left });
      if (await isOurSupervisor(state.supervisorPid, layout.dataDir))
        signalPid(state.supervisorPid, 'SIGKILL');
    }
  }
  // Whatever is still alive: the supervisor was dead already, or did not finish.
  const after = await inspectLocalCluster(layout.dataDir);
  const leftovers = [...after.liveComponents].reverse();
  if (leftovers.length > 0) {
    stoppedSomething = true;
    for (const c of leftovers) {
      logger.info('stopping leftover component', { component: c.name, pid: c.pid });
      const signalled = await killVerified([c], 'SIGTERM');
      const alive = await waitForExit(signalled, 10_000);
      if (alive.length > 0) await waitForExit(await killVerified([c], 'SIGKILL'), 5_000);
    }
  }
  const stopped = [state?.supervisorPid, ...componentPids, ...leftovers.map((c) => c.pid)].filter(
    (p): p is number => typeof p === 'number' && p > 0,
  );
  const survivors: number[] = [];
  const finalView = await inspectLocalCluster(layout.dataDir);
  if (finalView.supervisorAlive && finalView.state?.supervisorPid)
    survivors.push(finalView.state.supervisorPid);
  for (const c of finalView.liveComponents) if (c.pid) survivors.push(c.pid);
  const recorded = finalView.state;
  const stale =
    recorded !== undefined &&
    (recorded.supervisorPid !== null || recorded.components.some((c) => c.pid !== null));
  if (recorded && stale && survivors.length === 0) {
    // The supervisor died without recording its end: record it for it.
    await writeClusterState(layout.clusterState, clearedState(recorded));
  }
  if (survivors.length === 0) await waitForReaped(stopped, 5_000);
  const { unmounted, failed } = await unmountUnder(layout.dataDir);
  return { stoppedSomething, survivors, unmounted, mountsLeft: failed };
}

/** The state of a cluster with nothing running. Pure. */
export function clearedState(state: ClusterState): ClusterState {
  return {
    ...state,
    supervisorPid: null,
    phase: state.phase === 'failed' ? 'failed' : 'stopped',
    message: state.phase === 'failed' ? state.message : 'stopped',
    components: state.components.map((c) => ({
      ...c,
      pid: null,
      state: c.state === 'failed' || c.state === 'pending' || c.state === 'completed' ? c.state : 'stopped',
    })),
  };
}
