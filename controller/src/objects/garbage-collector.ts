// Applies findGarbage: reads the kinds it needs, decides, deletes. A pass lists every pod,
// so it runs seldom (every 30 s) unless asked (after a cascading delete) or a namespace is
// Terminating (then every second, until it is gone). Every write is guarded or idempotent,
// so a pass racing another controller's only conflicts, and the next pass decides again.
import { errorMessage, isFlotillaError, type Logger } from '@flotilla/common';
import { deletePod } from '../pods/delete-pod.js';
import {
  deploymentCodec,
  eventCodec,
  namespaceCodec,
  nodeCodec,
  podCodec,
  replicaSetCodec,
  serviceCodec,
} from '../store/codecs.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/types.js';
import { findGarbage, type GarbageAction } from './garbage.js';
import { serviceDeleteOps } from './service-release.js';

export interface GarbageCollectorOptions {
  store: Store;
  log: Logger;
  /** Between passes when nothing is pending; 30 s. */
  intervalMs?: number;
  /** Between passes while a namespace is Terminating; 1 s. */
  busyIntervalMs?: number;
  now?: () => Date;
}

export class GarbageCollector {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly busyIntervalMs: number;
  private readonly now: () => Date;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private busy = false;
  private running: Promise<number> | undefined;
  private again = false;
  /** Pods (key → uid) the last pass found bound to a missing node: forgotten if the next finds them so too. */
  private orphanedLastPass = new Map<string, string>();

  constructor(options: GarbageCollectorOptions) {
    this.store = options.store;
    this.log = options.log;
    this.intervalMs = options.intervalMs ?? 30_000;
    this.busyIntervalMs = options.busyIntervalMs ?? 1_000;
    this.now = options.now ?? (() => new Date());
  }

  start(): void {
    this.started = true;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.started = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (!this.started) return;
    this.timer = setTimeout(
      () => void this.collect(),
      this.busy ? this.busyIntervalMs : this.intervalMs,
    ).unref();
  }

  /** One pass (or joins the one under way, then runs another); resolves with the deletions made. */
  collect(): Promise<number> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        void this.collect();
      } else this.schedule();
    });
    return this.running;
  }

  private async pass(): Promise<number> {
    try {
      // Owners are read after what they own, each read after the one before it: an owner
      // created after its objects were read cannot leave them looking orphaned. Nodes, then
      // pods (a node that registers after its read cannot make its new pods look orphaned),
      // then ReplicaSets, then Deployments. Read side by side, a ReplicaSet committed with its
      // first pods between the two reads had those pods deleted (seen at 1,000 nodes: 113
      // pods of a new ReplicaSet, the pods' list being served by the shared copy).
      const nodes = await this.store.list(nodeCodec, keys.nodes);
      const [namespaces, pods, services, events] = await Promise.all([
        this.store.list(namespaceCodec, keys.namespaces),
        this.store.list(podCodec, keys.pods),
        this.store.list(serviceCodec, keys.services),
        this.store.list(eventCodec, keys.events),
      ]);
      const replicaSets = await this.store.list(replicaSetCodec, keys.replicaSets);
      const deployments = await this.store.list(deploymentCodec, keys.deployments);
      const actions = findGarbage({
        namespaces: namespaces.entries,
        deployments: deployments.entries,
        replicaSets: replicaSets.entries,
        pods: pods.entries,
        services: services.entries,
        events: events.entries,
        nodes: nodes.entries,
      });
      const orphaned = new Map<string, string>();
      for (const a of actions) if (a.type === 'forgetPod') orphaned.set(a.key, a.uid);
      const confirmed = actions.filter(
        (a) => a.type !== 'forgetPod' || this.orphanedLastPass.get(a.key) === a.uid,
      );
      this.orphanedLastPass = orphaned;
      this.busy = namespaces.entries.some((n) => n.value.status?.phase === 'Terminating');
      let done = 0;
      for (const action of confirmed) {
        if (await this.apply(action)) done++;
      }
      return done;
    } catch (err) {
      this.log.warn('garbage collection pass failed', { err: errorMessage(err) });
      return 0;
    }
  }

  private async apply(action: GarbageAction): Promise<boolean> {
    try {
      switch (action.type) {
        case 'delete':
          await this.store.commit([{ type: 'delete', key: action.key, expect: action.expect }]);
          this.log.info('garbage collected', { key: action.key, why: action.why });
          return true;
        case 'deleteService':
          await this.store.commit(serviceDeleteOps(action.entry));
          this.log.info('garbage collected', { key: action.entry.key, why: action.why });
          return true;
        case 'forgetPod':
          await this.store.commit([{ type: 'delete', key: action.key, expect: action.expect }]);
          this.log.info('garbage collected', { key: action.key, why: action.why });
          return true;
        case 'deletePod':
          await deletePod(this.store, action.namespace, action.name, { uid: action.uid }, this.now, this.log);
          this.log.info('garbage collected', { pod: `${action.namespace}/${action.name}`, why: action.why });
          return true;
      }
    } catch (err) {
      // Changed or gone meanwhile: the next pass decides again.
      if (isFlotillaError(err, 'Conflict') || isFlotillaError(err, 'NotFound')) return false;
      throw err;
    }
  }
}
