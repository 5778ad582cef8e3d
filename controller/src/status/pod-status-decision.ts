// What a pod status report from an agent changes in the stored pod. Pure. A node may
// report only its own pods, only the pod with the uid it runs, and only newer reports
// than it sent before; the report's status replaces the stored status, nothing else.
import { PodStatus, type Pod, type PodStatusReport } from '@flotilla/proto';
import { nodeSubjectToken } from '@flotilla/common';
import { podAnnotations } from '../pods/defaults.js';
import { isPodFinished } from '../scheduler/pod-demand.js';
import { markDeleted } from '../pods/lifecycle.js';

/** Why a report is ignored before any pod is read, or undefined when it may count. */
export function reportProblem(subjectToken: string, report: PodStatusReport): string | undefined {
  if (report.nodeName === '') return 'the report names no node';
  if (nodeSubjectToken(report.nodeName) !== subjectToken) {
    return `the report from node "${report.nodeName}" came on the subject of "${subjectToken}"`;
  }
  if (report.namespace === '' || report.name === '') return 'the report names no pod';
  if (report.uid === '') return 'the report names no pod uid';
  if (!report.removed && !report.status) return 'the report carries no status';
  return undefined;
}

export type StatusDecision =
  | { action: 'ignore'; reason: string }
  /** The stored pod already says what the report says. */
  | { action: 'none' }
  | { action: 'write'; pod: Pod; autoRemoved: boolean }
  /** The agent removed everything of a pod being deleted: the key may go. */
  | { action: 'delete' };

function wantsAutoRemove(pod: Pod): boolean {
  return (
    pod.metadata?.annotations[podAnnotations.autoRemove] === 'true' &&
    pod.metadata.deletionTimestamp === '' &&
    isPodFinished(pod)
  );
}

const sameStatus = (a: PodStatus | undefined, b: PodStatus | undefined): boolean =>
  JSON.stringify(a ? PodStatus.toJSON(a) : null) === JSON.stringify(b ? PodStatus.toJSON(b) : null);

/** What to do with a report about pod (undefined: no such pod stored). */
export function decideStatusReport(pod: Pod | undefined, report: PodStatusReport, now: Date): StatusDecision {
  const what = `${report.namespace}/${report.name}`;
  if (!pod) return { action: 'ignore', reason: `pod ${what} does not exist (any more)` };
  const bound = pod.spec?.nodeName ?? '';
  if (bound !== report.nodeName) {
    return {
      action: 'ignore',
      reason: `pod ${what} is bound to ${bound ? `node "${bound}"` : 'no node'}, not to "${report.nodeName}" which reported it`,
    };
  }
  const uid = pod.metadata?.uid ?? '';
  if (uid !== report.uid) {
    return { action: 'ignore', reason: `the report is about uid ${report.uid}, the pod ${what} is ${uid}` };
  }
  if (report.removed) {
    if (pod.metadata?.deletionTimestamp) return { action: 'delete' };
    return { action: 'ignore', reason: `the agent removed pod ${what}, which is not being deleted` };
  }
  let next: Pod = sameStatus(pod.status, report.status) ? pod : { ...pod, status: report.status };
  let autoRemoved = false;
  if (wantsAutoRemove(next)) {
    next = markDeleted(next, now, undefined) ?? next;
    autoRemoved = true;
  }
  if (next === pod) return { action: 'none' };
  return { action: 'write', pod: next, autoRemoved };
}

/**
 * The newest sequence seen per (node, agent instance): a report not newer than one
 * already seen from the same agent process is stale. A few instances per node are kept,
 * so a restarted agent's reports count while a late one from its predecessor still drops.
 */
export class ReportSequences {
  private readonly seen = new Map<string, Map<string, number>>();

  constructor(private readonly instancesPerNode = 4) {}

  /** Records the report's sequence; false when it is stale. */
  accept(node: string, instance: string, sequence: number): boolean {
    let instances = this.seen.get(node);
    if (!instances) {
      instances = new Map();
      this.seen.set(node, instances);
    }
    const last = instances.get(instance);
    if (last !== undefined && sequence <= last) return false;
    // Re-inserting keeps the map in order of last use, so the oldest instance goes first.
    instances.delete(instance);
    instances.set(instance, sequence);
    while (instances.size > this.instancesPerNode) {
      const oldest = instances.keys().next().value;
      if (oldest === undefined) break;
      instances.delete(oldest);
    }
    return true;
  }
}
