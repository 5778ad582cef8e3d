// What the controller's loops say happened to an object (Kubernetes Events). The loops
// only know this interface; the store-backed recorder aggregates repeats and expires them.
import type { ObjectReference } from '@flotilla/proto';

export type EventType = 'Normal' | 'Warning';

export interface EventInput {
  involvedObject: ObjectReference;
  type: EventType;
  /** UpperCamelCase, as Kubernetes: Scheduled, FailedScheduling, ScalingReplicaSet… */
  reason: string;
  message: string;
}

export interface EventRecorder {
  /** Never throws and never blocks the caller: recording is best effort. */
  record(event: EventInput): void;
}

/** For callers and tests that do not keep events. */
export const discardEvents: EventRecorder = { record: () => undefined };
