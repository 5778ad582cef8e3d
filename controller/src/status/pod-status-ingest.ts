// Pod status ingest: the agents' PodStatusReports (NATS, flotilla.v1.node.<token>.status)
// become the status of the stored pods. Reports are checked (the node's own pods, the
// right uid, no stale sequence), coalesced per pod and written in batches: one read of up
// to 100 pods and one guarded transaction of their writes, a conflict deciding again only
// the pods that changed; a removed pod being deleted leaves etcd, an auto-remove pod that
// finished starts its deletion. On start and after NATS reconnects, every node is asked
// to resync (its answer: a summary, then every pod status again).
import { PodStatusReport, type Node } from '@flotilla/proto';
import {
  conflict,
  errorMessage,
  isFlotillaError,
  subjects,
  type FlotillaError,
  type Logger,
} from '@flotilla/common';
import { podCodec } from '../store/codecs.js';
import type { Informer } from '../store/informer.js';
import { keys } from '../store/keys.js';
import { putOp, type Store, type TxnOp } from '../store/types.js';
import { decideStatusReport, reportProblem, ReportSequences } from './pod-status-decision.js';

/** How long reports gather before a batch is written: more coalescing, little delay. */
const batchWindowMs = 10;
/** Reports per transaction (one read, one guarded write of them all), within etcd's limit. */
const chunkSize = 100;
/** Transactions in flight at once within a batch. */
const concurrency = 4;
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
    // Chunks of distinct pods: one pod's key may appear once in a transaction, and a
    // second node's report about the same pod waits for the next chunk.
    const chunks: [string, PodStatusReport][][] = [];
    let chunk: [string, PodStatusReport][] = [];
    let inChunk = new Set<string>();
    const later: [string, PodStatusReport][] = [];
    for (const item of batch) {
      const key = keys.pod(item[1].namespace, item[1].name);
      if (inChunk.has(key)) {
        later.push(item);
        continue;
      }
      chunk.push(item);
      inChunk.add(key);
      if (chunk.length >= chunkSize) {
        chunks.push(chunk);
        chunk = [];
        inChunk = new Set();
      }
    }
    if (chunk.length > 0) chunks.push(chunk);
    for (const item of later) if (!this.pending.has(item[0])) this.pending.set(item[0], item[1]);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chunks.length) {
        const item = chunks[next++];
        if (item) await this.applyChunk(item);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, worker));
  }

  /**
   * Applies a chunk of reports about distinct pods: one read of them all, one guarded
   * transaction of every write. A guard that fails writes nothing, so on a conflict the
   * writes whose pods did not change go again at once, and only the pods that changed
   * are read and decided again.
   */
  private async applyChunk(items: readonly [string, PodStatusReport][]): Promise<void> {
    const { store, log } = this.options;
    let todo = items;
    try {
      for (let attempt = 1; todo.length > 0; attempt++) {
        const entries = await store.getMany(
          podCodec,
          todo.map(([, r]) => keys.pod(r.namespace, r.name)),
        );
        const now = this.now();
        let planned: PlannedWrite[] = [];
        todo.forEach(([pendingKey, report], i) => {
          const entry = entries[i];
          const key = keys.pod(report.namespace, report.name);
          const decision = decideStatusReport(entry?.value, report, now);
          if (decision.action === 'ignore') {
            log.debug('ignoring pod status report', {
              node: report.nodeName,
              pod: `${report.namespace}/${report.name}`,
              reason: decision.reason,
            });
          } else if (decision.action === 'write' && entry) {
            planned.push({
              pendingKey,
              report,
              op: putOp(podCodec, key, decision.pod, entry.modRevision),
              autoRemoved: decision.autoRemoved,
            });
          } else if (decision.action === 'delete' && entry) {
            planned.push({
              pendingKey,
              report,
              op: { type: 'delete', key, expect: entry.modRevision },
              autoRemoved: false,
            });
          }
        });
        // Commit what was planned; a conflict names the pods that changed: drop them and
        // commit the rest, whose guards still hold.
        let changed = new Set<string>();
        while (planned.length > 0) {
          try {
            await store.commit(planned.map((p) => p.op));
            for (const p of planned) this.logWritten(p);
            break;
          } catch (err) {
            if (!isFlotillaError(err, 'Conflict')) throw err;
            const stale = staleKeysOf(err, planned);
            changed = new Set([...changed, ...stale]);
            planned = planned.filter((p) => !stale.has(p.op.key));
          }
        }
        todo = todo.filter(([, r]) => changed.has(keys.pod(r.namespace, r.name)));
        if (todo.length > 0 && attempt >= attemptsPerReport) {
          throw conflict(`pods ${todo.map(([, r]) => `${r.namespace}/${r.name}`).join(', ')} kept changing`);
        }
      }
      if (this.failing) log.info('recording pod statuses again');
      this.failing = false;
    } catch (err) {
      // Keep them for the next batch unless a newer report for the pod came meanwhile.
      for (const [pendingKey, report] of todo) {
        if (!this.pending.has(pendingKey) && !this.stopped) this.pending.set(pendingKey, report);
      }
      const pods = todo.length;
      if (this.failing) log.debug('cannot record pod statuses', { pods, err: errorMessage(err) });
      else log.warn('cannot record pod statuses', { pods, err: errorMessage(err), retryInMs: retryDelayMs });
      this.failing = true;
    }
  }

  private logWritten(p: PlannedWrite): void {
    const { log } = this.options;
    const pod = `${p.report.namespace}/${p.report.name}`;
    if (p.op.type === 'delete') {
      log.info('pod removed by its agent; deleted', { node: p.report.nodeName, pod, uid: p.report.uid });
      return;
    }
    log.debug('recorded pod status', { node: p.report.nodeName, pod, phase: p.report.status?.phase });
    if (p.autoRemoved) log.info('pod finished; removing it (auto-remove)', { pod });
  }
}

interface PlannedWrite {
  pendingKey: string;
  report: PodStatusReport;
  op: TxnOp;
  autoRemoved: boolean;
}

/**
 * The keys a Conflict from commit names as changed (context.value); when it names none
 * of the planned writes, all of them, so the loop always makes progress.
 */
function staleKeysOf(err: FlotillaError, planned: readonly PlannedWrite[]): Set<string> {
  const named = err.context.value;
  const stale = new Set(Array.isArray(named) ? named.filter((k): k is string => typeof k === 'string') : []);
  const hit = planned.filter((p) => stale.has(p.op.key)).map((p) => p.op.key);
  return new Set(hit.length > 0 ? hit : planned.map((p) => p.op.key));
}
