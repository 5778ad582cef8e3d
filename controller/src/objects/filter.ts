// Which objects a ListObjects or WatchObjects request selects (namespace, name, labels,
// and for Events the fields of involvedObject), and what a store change means to a watch
// with that filter: as for pods, an object that starts matching is ADDED, one that stops
// matching is DELETED. Pure.
import { PodEvent_Type, type Event } from '@flotilla/proto';
import { invalidArgument } from '@flotilla/common';
import { matchesLabels, type LabelSelector } from '../labels/labels.js';
import type { WatchEvent } from '../store/types.js';
import type { StoredObject } from './kinds.js';

export const eventFields = [
  'involvedObject.kind',
  'involvedObject.name',
  'involvedObject.namespace',
  'involvedObject.uid',
  'reason',
  'type',
  'metadata.name',
  'metadata.namespace',
] as const;
type EventField = (typeof eventFields)[number];

export interface FieldRequirement {
  field: EventField;
  value: string;
  equal: boolean;
}

/** Parses "involvedObject.kind=Pod,involvedObject.name!=web"; "" selects everything. */
export function parseEventFieldSelector(text: string): FieldRequirement[] {
  if (text.trim() === '') return [];
  return text.split(',').map((raw) => {
    const part = raw.trim();
    const m = /^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
    const field = m?.[1] ?? '';
    if (!m || !(eventFields as readonly string[]).includes(field)) {
      throw invalidArgument(
        `field selector "${text}": "${part}" is not FIELD=VALUE or FIELD!=VALUE with FIELD one of ${eventFields.join(', ')}`,
        { field: 'fieldSelector', value: text },
      );
    }
    return { field: field as EventField, value: (m[3] ?? '').trim(), equal: m[2] !== '!=' };
  });
}

function eventField(e: Event, field: EventField): string {
  switch (field) {
    case 'involvedObject.kind':
      return e.involvedObject?.kind ?? '';
    case 'involvedObject.name':
      return e.involvedObject?.name ?? '';
    case 'involvedObject.namespace':
      return e.involvedObject?.namespace ?? '';
    case 'involvedObject.uid':
      return e.involvedObject?.uid ?? '';
    case 'reason':
      return e.reason;
    case 'type':
      return e.type;
    case 'metadata.name':
      return e.metadata?.name ?? '';
    case 'metadata.namespace':
      return e.metadata?.namespace ?? '';
  }
}

export function eventMatchesFields(e: Event, requirements: readonly FieldRequirement[]): boolean {
  return requirements.every((r) => (eventField(e, r.field) === r.value) === r.equal);
}

export interface ObjectFilter {
  /** "" for every namespace. */
  namespace: string;
  /** "" for every name. */
  name: string;
  selector: LabelSelector;
  /** Events only. */
  fields?: readonly FieldRequirement[];
}

export function objectMatches<T extends StoredObject>(
  filter: ObjectFilter,
  value: T | undefined,
): value is T {
  if (!value) return false;
  const meta = value.metadata;
  if (filter.namespace !== '' && meta?.namespace !== filter.namespace) return false;
  if (filter.name !== '' && meta?.name !== filter.name) return false;
  if (!matchesLabels(filter.selector, meta?.labels)) return false;
  if (
    filter.fields &&
    filter.fields.length > 0 &&
    !eventMatchesFields(value as unknown as Event, filter.fields)
  ) {
    return false;
  }
  return true;
}

function atRevision<T extends StoredObject>(value: T, revision: number): T {
  return value.metadata
    ? { ...value, metadata: { ...value.metadata, resourceVersion: String(revision) } }
    : value;
}

/** The watch event for a store change, or undefined when it does not concern the filter. */
export function objectEventFor<T extends StoredObject>(
  filter: ObjectFilter,
  ev: WatchEvent<T>,
): { type: PodEvent_Type; value: T } | undefined {
  const was = objectMatches(filter, ev.previous);
  if (ev.type === 'delete') {
    // Without the previous value (a watch that starts at the compaction revision) the
    // object is unknown; a client holding it lists again after a gap anyway.
    if (!ev.previous || !was) return undefined;
    return { type: PodEvent_Type.DELETED, value: atRevision(ev.previous, ev.revision) };
  }
  const is = objectMatches(filter, ev.value);
  if (is) return { type: was ? PodEvent_Type.MODIFIED : PodEvent_Type.ADDED, value: ev.value };
  if (was) return { type: PodEvent_Type.DELETED, value: atRevision(ev.value, ev.revision) };
  return undefined;
}
