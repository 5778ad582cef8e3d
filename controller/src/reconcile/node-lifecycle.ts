// The node lifecycle loop: every tick, decide from the local node cache which nodes went
// silent and write Ready=Unknown, each write guarded by the revision decided on. A
// conflict means the node changed meanwhile (a heartbeat, a registration): the next tick
// decides again from the newer state.
import type { Node } from '@flotilla/proto';
import { errorMessage, isFlotillaError, type Logger } from '@flotilla/common';
import { nodeCodec } from '../store/codecs.js';
import type { Informer } from '../store/informer.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/types.js';
import { decideNodeLiveness, type LastSeen } from './node-liveness.js';

export interface NodeLifecycleOptions {
  store: Store;
  nodes: Informer<Node>;
  lastSeen: LastSeen;
  graceMs: number;
  controllerStart: number;
  /**
   * Since when heartbeats can reach this controller (its NATS connection came up), or
   * undefined while they cannot. A controller that cannot hear has nothing to judge by:
   * it decides nothing then, and afterwards gives every node a full grace again.
   */
  listeningSince?: () => number | undefined;
  log: Logger;
  intervalMs?: number;
  now?: () => number;
}

export class NodeLifecycleLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly options: NodeLifecycleOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.timer = setInterval(() => {
      // One tick at a time: a slow etcd must not pile up overlapping passes.
      if (this.running) return;
      this.running = this.tick().finally(() => (this.running = undefined));
    }, this.options.intervalMs ?? 500);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  async tick(): Promise<void> {
    const { store, nodes, lastSeen, graceMs, controllerStart, log } = this.options;
    if (!nodes.isSynced) return;
    const since = this.options.listeningSince ? this.options.listeningSince() : controllerStart;
    if (since === undefined) return;
    const start = Math.max(controllerStart, since);
    const updates = decideNodeLiveness(nodes.list(), lastSeen.map, this.now(), graceMs, start);
    for (const u of updates) {
      if (this.stopped) return;
      try {
        await store.update(nodeCodec, keys.node(u.name), u.node, Number(u.resourceVersion));
        const ready = u.node.status?.conditions[0];
        log.info('node is not responding', { node: u.name, reason: ready?.reason, message: ready?.message });
      } catch (err) {
        if (isFlotillaError(err, 'Conflict')) {
          log.debug('node changed while marking it Unknown; deciding again next tick', { node: u.name });
          await nodes.refresh(keys.node(u.name)).catch(() => undefined);
        } else {
          log.warn('cannot mark node Unknown', { node: u.name, err: errorMessage(err) });
        }
      }
    }
  }
}
