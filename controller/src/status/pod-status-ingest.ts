// Pod status ingest: the agents' PodStatusReports (NATS, flotilla.v1.node.<token>.status)
// become the status of the stored pods. Reports are checked (the node's own pods, the
// right uid, no stale sequence), coalesced per pod and written in batches with guarded
// read-modify-writes; a removed pod being deleted leaves etcd, an auto-remove pod that
// finished starts its deletion. On start and after NATS reconnects, every node is asked
// to resync (its answer: a summary, then every pod status again).
import { PodStatusReport, type Node } from '@flotilla/proto';
import { errorMessage, isFlotillaError, subjects, type Logger } from '@flotilla/common';
import { podCodec } from '../store/codecs.js';
import type { Informer } from '../store/informer.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/types.js';
import { decideStatusReport, reportProblem, ReportSequences } from './pod-status-decision.js';

/** How long reports gather before a batch is written: more coalescing, little delay. */
const batchWindowMs = 10;
/** Writes in flight at once within a batch. */
const concurrency = 16;
const attemptsPerReport = 10;
const retryDelayMs = 1_000;
const resyncTimeoutMs = 5_000;

export interface ResyncRequester {
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
}

export interface PodStatusIngestOptions {
  store: Store;
  nodes: Informer<Node>;
  log: Logger;
  now?: () => Date;
}

export class PodStatusIngest {
  /** The newest report per (node, pod key) not yet written, under "<node> <key>". */
  private pending = new Map<string, PodStatusReport>();
  private readonly sequences = new ReportSequences();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private failing = false;
  private stopped = false;
  private readonly now: () => Date;

  constructor(private readonly options: PodStatusIngestOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** Handles one message from flotilla.v1.node.<token>.status. */
  handle(subject: string, data: Uint8Array): void {
    const { log } = this.options;
    if (this.stopped) return;
    const token = subject.split('.')[3] ?? '';
    let report: PodStatusReport;
    try {
      report = PodStatusReport.decode(data);
    } catch (err) {
      log.debug('ignoring a pod status report that does not decode', { subject, err: errorMessage(err) });
      return;
    }
    const problem = reportProblem(token, report);
    if (problem) {
      log.debug('ignoring pod status report', { subject, reason: problem });
      return;
    }
    if (!this.sequences.accept(report.nodeName, report.agentInstance, report.sequence)) {
      log.debug('ignoring a stale pod status report', {
        node: report.nodeName,
        pod: `${report.namespace}/${report.name}`,
        sequence: report.sequence,
      });
      return;
    }
    // Per node as well as per pod: a node's reports about a pod it does not run must
    // never displace the report of the node that does.
    this.pending.set(`${report.nodeName} ${keys.pod(report.namespace, report.name)}`, report);
    // While etcd fails, batches wait out the retry delay: an outage must not become a write storm.
    this.schedule(this.failing ? retryDelayMs : batchWindowMs);
  }

  /** Asks every known node to publish all its pod statuses again. */
  async resyncAll(requester: ResyncRequester): Promise<void> {
    const { nodes, log } = this.options;
    await nodes.waitSynced();
    const names = nodes
      .list()
      .map((n) => n.metadata?.name ?? '')
      .filter((n) => n !== '');
    const answers = await Promise.allSettled(
      names.map(async (node) => {
        const reply = await requester.request(subjects.resync(node), new Uint8Array(), resyncTimeoutMs);
        log.debug('node answered the resync request', { node, summary: new TextDecoder().decode(reply) });
      }),
    );
    const failed = answers.flatMap((a, i) =>
      a.status === 'rejected' ? [`${names[i] ?? ''}: ${errorMessage(a.reason)}`] : [],
    );
    log.info('asked the nodes to resync their pod statuses', {
      nodes: names.length,
      answered: names.length - failed.length,
      ...(failed.length > 0 ? { unanswered: failed } : {}),
    });
  }

  /** Stops taking reports and waits for the writes in flight (at shutdown). */
  async settle(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
  }

  private schedule(delayMs: number): void {
    if (this.timer || this.flushing || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flush().finally(() => {
        this.flushing = undefined;
        if (this.pending.size > 0) this.schedule(this.failing ? retryDelayMs : batchWindowMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async flush(): Promise<void> {
    const batch = [...this.pending.entries()];
    this.pending = new Map();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < batch.length) {
        const item = batch[next++];
        if (item) await this.apply(item[0], item[1]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, batch.length) }, worker));
  }

  /** Applies one report with guarded writes, deciding again after each conflict. */
  private async apply(pendingKey: string, report: PodStatusReport): Promise<void> {
    const { store, log } = this.options;
    const key = keys.pod(report.namespace, report.name);
    const pod = `${report.namespace}/${report.name}`;
    try {
      for (let attempt = 1; ; attempt++) {
        const entry = await store.get(podCodec, key);
        const decision = decideStatusReport(entry?.value, report, this.now());
        try {
          if (decision.action === 'ignore') {
            log.debug('ignoring pod status report', { node: report.nodeName, pod, reason: decision.reason });
          } else if (decision.action === 'write' && entry) {
            await store.update(podCodec, key, decision.pod, entry.modRevision);
            log.debug('recorded pod status', { node: report.nodeName, pod, phase: report.status?.phase });
            if (decision.autoRemoved) log.info('pod finished; removing it (auto-remove)', { pod });
          } else if (decision.action === 'delete' && entry) {
            // false: already gone, which is what the report asked for.
            await store.delete(key, entry.modRevision);
            log.info('pod removed by its agent; deleted', { node: report.nodeName, pod, uid: report.uid });
          }
          break;
        } catch (err) {
          if (!isFlotillaError(err, 'Conflict') || attempt >= attemptsPerReport) throw err;
        }
      }
      if (this.failing) log.info('recording pod statuses again');
      this.failing = false;
    } catch (err) {
      // Keep it for the next batch unless a newer report for the pod came meanwhile.
      if (!this.pending.has(pendingKey) && !this.stopped) this.pending.set(pendingKey, report);
      if (this.failing) log.debug('cannot record pod status', { pod, err: errorMessage(err) });
      else log.warn('cannot record pod status', { pod, err: errorMessage(err), retryInMs: retryDelayMs });
      this.failing = true;
    }
  }
}
