// The gate for leader-only loops. Every replica serves the API and the assignment
// streams; the loops registered here run only while this replica leads: started when it
// wins the election, stopped (their signal aborted, awaited) when it loses, then it
// campaigns again.
import { errorMessage, type Logger } from '@flotilla/common';
import { sleep } from '../util/backoff.js';
import { notLeader, type Candidate, type Leadership } from './candidate.js';

/**
 * Starts one leader-only loop. It runs until signal aborts; the returned promise (if any)
 * settles when the loop has stopped, so the next term never overlaps this one.
 */
export type LeaderLoop = (signal: AbortSignal, leadership: Leadership) => Promise<void> | void;

export interface LeaderElectorOptions {
  candidate: Candidate;
  /** Who this replica is, as the election and GetClusterStatus show it: its API address. */
  identity: string;
  log: Logger;
  /** Wait before campaigning again after a lost term or a failed campaign. */
  retryMs?: number;
}

interface Registered {
  name: string;
  start: LeaderLoop;
}

export class LeaderElector {
  private readonly loops: Registered[] = [];
  private readonly abort = new AbortController();
  private current: Leadership | undefined;
  private running: Promise<void> | undefined;
  /** The loops of the current term, by name. */
  private readonly active = new Map<string, Promise<void>>();

  constructor(private readonly options: LeaderElectorOptions) {}

  get identity(): string {
    return this.options.identity;
  }

  /** The current term, while this replica leads. */
  get leadership(): Leadership | undefined {
    return this.current && !this.current.lost.aborted ? this.current : undefined;
  }

  get isLeader(): boolean {
    return this.leadership !== undefined;
  }

  /** The fence for a leader-only write; throws Unavailable when this replica does not lead. */
  fence(): Leadership {
    const leadership = this.leadership;
    if (!leadership) throw notLeader(this.options.identity);
    return leadership;
  }

  /** Who leads the cluster now (this replica or another), undefined when nobody does. */
  async leader(): Promise<string | undefined> {
    if (this.isLeader) return this.options.identity;
    return this.options.candidate.leader();
  }

  /** Registers a loop; started now if this replica already leads. */
  runWhileLeader(name: string, start: LeaderLoop): void {
    const loop = { name, start };
    this.loops.push(loop);
    const leadership = this.leadership;
    if (leadership) this.launch(loop, leadership);
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Stops the loops, resigns (so a successor need not wait out the lease) and stops campaigning. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    const { candidate, identity, log } = this.options;
    const retryMs = this.options.retryMs ?? 1_000;
    const stopping = this.abort.signal;
    while (!stopping.aborted) {
      let leadership: Leadership;
      try {
        log.debug('campaigning for leadership', { identity });
        leadership = await candidate.campaign(identity, stopping);
      } catch (err) {
        if (stopping.aborted) break;
        log.warn('cannot campaign for leadership; trying again', {
          err: errorMessage(err),
          retryInMs: retryMs,
        });
        await sleep(retryMs, stopping);
        continue;
      }
      this.current = leadership;
      log.info('elected leader; starting the leader-only loops', {
        identity,
        loops: this.loops.map((l) => l.name),
      });
      for (const loop of this.loops) this.launch(loop, leadership);
      const term = AbortSignal.any([leadership.lost, stopping]);
      await new Promise<void>((resolve) => {
        if (term.aborted) resolve();
        term.addEventListener('abort', () => resolve(), { once: true });
      });
      if (!stopping.aborted) log.warn('lost leadership; stopping the leader-only loops', { identity });
      await Promise.allSettled([...this.active.values()]);
      this.active.clear();
      this.current = undefined;
      await leadership.resign().catch(() => undefined);
      if (!stopping.aborted) await sleep(retryMs, stopping);
    }
  }

  private launch(loop: Registered, leadership: Leadership): void {
    const { log } = this.options;
    const signal = AbortSignal.any([leadership.lost, this.abort.signal]);
    const run = (async () => {
      try {
        await loop.start(signal, leadership);
      } catch (err) {
        log.error('leader-only loop failed', { loop: loop.name, err: errorMessage(err) });
      }
    })();
    this.active.set(loop.name, run);
  }
}

/** Resolves when signal aborts: for loops whose start returns at once and stop on abort. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
