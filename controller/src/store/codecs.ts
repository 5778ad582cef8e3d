// Codecs for what the controller stores. Objects are stored as ts-proto's toJSON writes
// them; resourceVersion is the key's mod revision, filled in on read and never stored, so
// it cannot go stale inside the value.
import { Deployment, Endpoints, Event, Namespace, Node, Pod, ReplicaSet, Service } from '@flotilla/proto';
import { FlotillaError } from '@flotilla/common';
import type { Codec } from './types.js';

function parseJson(kind: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FlotillaError(
      'Internal',
      `stored ${kind} is not valid JSON: ${(err as Error).message}`,
      {},
      { cause: err },
    );
  }
}

interface WithMeta {
  metadata?: { resourceVersion: string } | undefined;
}

interface ProtoJson<T> {
  toJSON(message: T): unknown;
  fromJSON(object: unknown): T;
}

function objectCodec<T extends WithMeta>(kind: string, fns: ProtoJson<T>): Codec<T> {
  return {
    kind,
    encode(value) {
      const copy = value.metadata
        ? { ...value, metadata: { ...value.metadata, resourceVersion: '' } }
        : value;
      return JSON.stringify(fns.toJSON(copy));
    },
    decode(text, modRevision) {
      const value = fns.fromJSON(parseJson(kind, text));
      if (value.metadata) value.metadata.resourceVersion = String(modRevision);
      return value;
    },
  };
}

export const nodeCodec: Codec<Node> = objectCodec<Node>('node', Node);
export const podCodec: Codec<Pod> = objectCodec<Pod>('pod', Pod);
export const namespaceCodec: Codec<Namespace> = objectCodec<Namespace>('namespace', Namespace);
export const deploymentCodec: Codec<Deployment> = objectCodec<Deployment>('deployment', Deployment);
export const replicaSetCodec: Codec<ReplicaSet> = objectCodec<ReplicaSet>('replicaset', ReplicaSet);
export const serviceCodec: Codec<Service> = objectCodec<Service>('service', Service);
export const endpointsCodec: Codec<Endpoints> = objectCodec<Endpoints>('endpoints', Endpoints);
export const eventCodec: Codec<Event> = objectCodec<Event>('event', Event);

/** Plain JSON records (CA, NATS keys, join tokens), checked on read by parse. */
export function jsonCodec<T>(kind: string, parse: (value: unknown) => T): Codec<T> {
  return {
    kind,
    encode: (value) => JSON.stringify(value),
    decode: (text) => parse(parseJson(kind, text)),
  };
}

/** Reads a record field that must be a string, naming the record and field when it is not. */
export function stringField(kind: string, record: Record<string, unknown>, field: string): string {
  const value = record[field];
  if (typeof value !== 'string') {
    throw new FlotillaError('Internal', `stored ${kind} has no string field "${field}"`, { field });
  }
  return value;
}

export function asRecord(kind: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FlotillaError('Internal', `stored ${kind} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}
