// Runs a plan of components as child processes: starts them in order, each only once the
// one before is ready; restarts any that dies afterwards, with back-off; stops them in
// reverse order. Every change is written to cluster.json.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, errorMessage } from '@flotilla/common';
import { type Layout, type LocalPorts, startMarker } from './layout.js';
import type { Arg, ComponentSpec } from './plan.js';
import { type ClusterState, type ComponentRecord, type HostsRecord, writeClusterState } from './state.js';
import { probeOnce } from './readiness.js';
import { nextFailureCount, restartDelay } from './backoff.js';

export interface SupervisorOptions {
  layout: Layout;
  ports: LocalPorts;
  plan: readonly ComponentSpec[];
  logger: Logger;
  env: NodeJS.ProcessEnv;
  /** How long a child gets between SIGTERM and SIGKILL. */
  stopGraceMs?: number;
  /** The hosts the plan's agents run in, recorded for `deploy status|down`. */
  hosts?: HostsRecord;
}

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

interface Run {
  spec: ComponentSpec;
  child: ChildProcess;
  startedAt: number;
  /** Part of the initial start, whose failure fails the whole cluster. */
  initial: boolean;
  exit: ExitInfo | undefined;
  exited: Promise<ExitInfo>;
}

export function describeExit(info: ExitInfo): string {
  if (info.error) return `could not run: ${info.error.message}`;
  if (info.signal) return `was killed by ${info.signal}`;
  return `exited with code ${info.code ?? '?'}`;
}

async function resolveArgs(args: readonly Arg[]): Promise<string[]> {
  const out: string[] = [];
  for (const arg of args) {
    if (typeof arg === 'string') out.push(arg);
    else out.push((await readFile(arg.fileContents, 'utf8')).trim());
  }
  return out;
}

export class Supervisor {
  private readonly state: ClusterState;
  private readonly running = new Map<string, Run>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  private readonly stopSignal = new AbortController();
  private stopping: Promise<void> | undefined;
  private writes: Promise<void> = Promise.resolve();
  private readonly stopGraceMs: number;
  private markStopped: () => void = () => {};
  /** Settles once every child is stopped and the final state is written. */
  readonly stopped: Promise<void> = new Promise((resolve) => (this.markStopped = resolve));

  constructor(private readonly options: SupervisorOptions) {
    this.stopGraceMs = options.stopGraceMs ?? 10_000;
    this.state = {
      supervisorPid: process.pid,
      dataDir: options.layout.dataDir,
      startedAt: new Date().toISOString(),
      phase: 'starting',
      message: 'starting',
      failedComponent: '',
      ports: options.ports,
      components: options.plan.map((spec) => ({
        name: spec.name,
        pid: null,
        address: spec.address,
        log: spec.log,
        state: 'pending',
        restarts: 0,
        command: [],
        message: '',
      })),
      hosts: options.hosts ?? null,
    };
  }

  get failed(): boolean {
    return this.state.phase === 'failed';
  }

  /** Starts every component in order. False when one failed or a stop was asked for. */
  async start(): Promise<boolean> {
    await this.save();
    for (const spec of this.options.plan) {
      if (this.stopping) return false;
      const record = this.record(spec.name);
      try {
        this.options.logger.info('starting component', { component: spec.name });
        const run = await this.spawnComponent(spec, true);
        if (!run) return false;
        await this.waitReady(run);
        record.state = spec.oneShot ? 'completed' : 'running';
        record.message = '';
        this.options.logger.info('component ready', { component: spec.name, pid: run.child.pid });
        await this.save();
      } catch (err) {
        if (this.stopping) return false;
        const message = `${spec.name} ${errorMessage(err)}; see ${spec.log}`;
        this.options.logger.error('component failed to start', { component: spec.name, err });
        record.state = 'failed';
        record.message = errorMessage(err);
        this.state.phase = 'failed';
        this.state.failedComponent = spec.name;
        this.state.message = message;
        await this.save();
        await this.stop();
        return false;
      }
    }
    this.state.phase = 'running';
    this.state.message = 'every component is running';
    await this.save();
    return true;
  }

  /** Stops every child, last started first; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private record(name: string): ComponentRecord {
    const record = this.state.components.find((c) => c.name === name);
    if (!record) throw new Error(`no component ${name} in the plan`);
    return record;
  }

  private save(): Promise<void> {
    const snapshot = structuredClone(this.state);
    this.writes = this.writes
      .then(() => writeClusterState(this.options.layout.clusterState, snapshot))
      .catch((err: unknown) => this.options.logger.error('cannot write cluster state', { err }));
    return this.writes;
  }

  private async spawnComponent(spec: ComponentSpec, initial: boolean): Promise<Run | undefined> {
    const args = await resolveArgs(spec.args);
    if (this.stopping) return undefined;
    const record = this.record(spec.name);
    const fd = openSync(spec.log, 'a');
    let child: ChildProcess;
    try {
      // Only the name: the arguments may hold the join token.
      writeSync(fd, `--- ${new Date().toISOString()} ${startMarker} ${spec.name}\n`);
      // nsenter execs the command in the host's netns: the child's PID and command line
      // are the command's, which is what is recorded below.
      child = spec.netns
        ? spawn('nsenter', [`--net=${spec.netns}`, spec.command, ...args], {
            stdio: ['ignore', fd, fd],
            env: this.options.env,
          })
        : spawn(spec.command, args, { stdio: ['ignore', fd, fd], env: this.options.env });
    } finally {
      closeSync(fd);
    }
    const run: Run = {
      spec,
      child,
      startedAt: Date.now(),
      initial,
      exit: undefined,
      exited: new Promise<ExitInfo>((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
        child.once('error', (error) => resolve({ code: null, signal: null, error }));
      }),
    };
    void run.exited.then((info) => this.onExit(run, info));
    this.running.set(spec.name, run);
    record.pid = child.pid ?? null;
    record.command = [spec.command, ...args];
    record.state = 'starting';
    await this.save();
    return run;
  }

  private async waitReady(run: Run): Promise<void> {
    const { spec } = run;
    const deadline = Date.now() + spec.readyTimeoutMs;
    const signal = this.stopSignal.signal;
    if (spec.readiness.kind === 'exit') {
      const timer = new AbortController();
      const timeout = sleep(spec.readyTimeoutMs, 'timeout' as const, {
        signal: AbortSignal.any([signal, timer.signal]),
      }).catch(() => 'stopped' as const);
      const outcome = await Promise.race([run.exited, timeout]);
      timer.abort();
      if (outcome === 'timeout') throw new Error(`did not finish within ${spec.readyTimeoutMs / 1000}s`);
      if (outcome === 'stopped') throw new Error('was stopped');
      if (outcome.code !== 0) throw new Error(describeExit(outcome));
      return;
    }
    const readySince = Date.now();
    let reason = 'not probed yet';
    for (;;) {
      if (run.exit) throw new Error(`${describeExit(run.exit)} before it was ready`);
      if (signal.aborted) throw new Error('was stopped');
      if (spec.readiness.kind === 'alive') {
        if (Date.now() - readySince >= spec.readiness.ms) return;
        reason = `stayed up less than ${spec.readiness.ms}ms`;
      } else {
        const problem = await probeOnce(spec.readiness);
        if (run.exit) throw new Error(`${describeExit(run.exit)} before it was ready`);
        if (problem === undefined) return;
        reason = problem;
      }
      if (Date.now() >= deadline)
        throw new Error(`was not ready within ${spec.readyTimeoutMs / 1000}s: ${reason}`);
      await sleep(200, undefined, { signal }).catch(() => undefined);
    }
  }

  private onExit(run: Run, info: ExitInfo): void {
    run.exit = info;
    const { spec } = run;
    if (this.running.get(spec.name) === run) this.running.delete(spec.name);
    const record = this.record(spec.name);
    record.pid = null;
    if (this.stopping) return;
    // A one-shot step, or a component still in its first start, is judged by waitReady.
    if (spec.oneShot || (run.initial && record.state === 'starting')) return;
    const uptime = Date.now() - run.startedAt;
    const failures = nextFailureCount(this.failures.get(spec.name) ?? 0, uptime);
    this.failures.set(spec.name, failures);
    const delay = restartDelay(failures - 1);
    record.state = 'restarting';
    record.restarts++;
    record.message = `${describeExit(info)} after ${Math.round(uptime / 1000)}s; restarting in ${delay / 1000}s`;
    this.options.logger.warn('component exited; restarting', {
      component: spec.name,
      exit: info,
      delayMs: delay,
    });
    void this.save();
    const timer = setTimeout(() => {
      this.restartTimers.delete(spec.name);
      void this.restart(spec);
    }, delay);
    this.restartTimers.set(spec.name, timer);
  }

  private async restart(spec: ComponentSpec): Promise<void> {
    if (this.stopping) return;
    const record = this.record(spec.name);
    try {
      const run = await this.spawnComponent(spec, false);
      if (!run) return;
      await this.waitReady(run);
      record.state = 'running';
      record.message = '';
      this.options.logger.info('component restarted', { component: spec.name, pid: run.child.pid });
      await this.save();
    } catch (err) {
      if (this.stopping) return;
      // If it exited, onExit has already scheduled the next attempt.
      record.message = errorMessage(err);
      this.options.logger.warn('restarted component is not ready', { component: spec.name, err });
      await this.save();
    }
  }

  private async stopOne(run: Run): Promise<void> {
    const record = this.record(run.spec.name);
    record.state = 'stopping';
    await this.save();
    if (!run.exit) {
      this.options.logger.info('stopping component', { component: run.spec.name, pid: run.child.pid });
      run.child.kill('SIGTERM');
      const timer = new AbortController();
      const graceful = await Promise.race([
        run.exited.then(() => true),
        sleep(this.stopGraceMs, false, { signal: timer.signal }).catch(() => false),
      ]);
      timer.abort();
      if (!graceful) {
        this.options.logger.warn('component ignored SIGTERM; killing it', { component: run.spec.name });
        run.child.kill('SIGKILL');
        await run.exited;
      }
    }
    record.pid = null;
    if (record.state === 'stopping') record.state = 'stopped';
  }

  private async stopAll(): Promise<void> {
    this.stopSignal.abort();
    for (const timer of this.restartTimers.values()) clearTimeout(timer);
    this.restartTimers.clear();
    if (this.state.phase !== 'failed') {
      this.state.phase = 'stopping';
      this.state.message = 'stopping';
    }
    await this.save();
    for (const spec of [...this.options.plan].reverse()) {
      const run = this.running.get(spec.name);
      if (run) await this.stopOne(run);
    }
    // Anything that slipped in while stopping (a start racing the signal).
    for (const run of [...this.running.values()]) await this.stopOne(run);
    for (const record of this.state.components) {
      record.pid = null;
      if (!['failed', 'pending', 'completed'].includes(record.state)) record.state = 'stopped';
    }
    if (this.state.phase !== 'failed') {
      this.state.phase = 'stopped';
      this.state.message = 'stopped';
    }
    this.state.supervisorPid = null;
    await this.save();
    this.markStopped();
  }
}
