// Heartbeat ingest: every heartbeat records the receive time in memory (what liveness
// is judged on); the stored Node is written only when heartbeatUpdate says so, with a
// guarded read-modify-write, and at most one write per node in flight.
import { NodeHeartbeat, type Node } from '@flotilla/proto';
import { errorMessage, type Logger } from '@flotilla/common';
import { nodeCodec } from '../store/codecs.js';
import type { Informer } from '../store/informer.js';
import { keys } from '../store/keys.js';
import { modify } from '../store/modify.js';
import type { Store } from '../store/types.js';
import type { LastSeen } from '../reconcile/node-liveness.js';
import { discardEvents, type EventRecorder } from '../events/recorder.js';
import { readyCondition } from '../nodes/conditions.js';
import { heartbeatProblem, heartbeatUpdate } from './heartbeat-decision.js';

const retryDelayMs = 1_000;

export interface HeartbeatIngestOptions {
  store: Store;
  nodes: Informer<Node>;
  lastSeen: LastSeen;
  log: Logger;
  now?: () => Date;
  /** NodeReady is recorded when a heartbeat brings a node back. */
  events?: EventRecorder;
}

export class HeartbeatIngest {
  private readonly writing = new Set<string>();
  /** After a failed write, when the next may be tried: an etcd outage must not become a write storm. */
  private readonly retryAt = new Map<string, number>();
  private failing = false;
  private readonly pending = new Set<Promise<void>>();
  private readonly now: () => Date;

  constructor(private readonly options: HeartbeatIngestOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** Handles one message from flotilla.v1.node.<token>.heartbeat. */
  handle(subject: string, data: Uint8Array): void {
    const { log, nodes, lastSeen } = this.options;
    const token = subject.split('.')[3] ?? '';
    let heartbeat: NodeHeartbeat;
    try {
      heartbeat = NodeHeartbeat.decode(data);
    } catch (err) {
      log.debug('ignoring a heartbeat that does not decode', { subject, err: errorMessage(err) });
      return;
    }
    const problem = heartbeatProblem(token, heartbeat);
    if (problem) {
      log.debug('ignoring heartbeat', { subject, reason: problem });
      return;
    }
    const name = heartbeat.nodeName;
    const node = nodes.get(keys.node(name));
    if (!node) {
      log.debug('ignoring a heartbeat from an unknown node', { node: name });
      return;
    }
    const now = this.now();
    lastSeen.observe(name, now.getTime());
    if (!heartbeatUpdate(node, now) || this.writing.has(name)) return;
    if ((this.retryAt.get(name) ?? 0) > now.getTime()) return;
    this.writing.add(name);
    const write = this.write(name, now).finally(() => {
      this.writing.delete(name);
      this.pending.delete(write);
    });
    this.pending.add(write);
  }

  /** Waits for the writes in flight (at shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private async write(name: string, now: Date): Promise<void> {
    const { store, log } = this.options;
    try {
      let changed = false;
      let returned = false;
      const written = await modify(store, nodeCodec, keys.node(name), (current) => {
        const next = heartbeatUpdate(current, now);
        changed = next !== undefined;
        returned = changed && readyCondition(current)?.status !== 'True';
        return next;
      });
      if (returned && written) {
        log.info('node is Ready again', { node: name });
        (this.options.events ?? discardEvents).record({
          involvedObject: {
            apiVersion: 'v1',
            kind: 'Node',
            namespace: '',
            name,
            uid: written.value.metadata?.uid ?? '',
            resourceVersion: '',
            fieldPath: '',
          },
          type: 'Normal',
          reason: 'NodeReady',
          message: `Node ${name} status is now: NodeReady`,
        });
      } else if (changed) log.debug('recorded heartbeat', { node: name });
      // The cached copy asked for a write the stored node did not need: it is stale.
      else await this.options.nodes.refresh(keys.node(name));
      this.retryAt.delete(name);
      if (this.failing) log.info('recording heartbeats again', { node: name });
      this.failing = false;
    } catch (err) {
      this.retryAt.set(name, now.getTime() + retryDelayMs);
      // Once per outage at warn; the rest would only repeat it.
      if (this.failing) log.debug('cannot record heartbeat', { node: name, err: errorMessage(err) });
      else
        log.warn('cannot record heartbeat', { node: name, err: errorMessage(err), retryInMs: retryDelayMs });
      this.failing = true;
    }
  }
}
