// Metadata every kind shares: the name rule of its kind, the namespace, labels and
// annotations (the pod rules, reused), and the identity a create fills in. Pure.
import type { ObjectMeta } from '@flotilla/proto';
import { FieldProblems, validateDnsLabel, type FieldProblem } from '@flotilla/common';
import { checkAnnotations, checkLabels } from '../pods/validate-pod.js';
import { defaultNamespace } from '../pods/defaults.js';
import { nameProblem, type KindInfo } from './kinds.js';

/** The problems of an object's metadata (after defaults). */
export function metaProblems(info: KindInfo, meta: ObjectMeta | undefined): FieldProblem[] {
  const p = new FieldProblems();
  if (!meta) {
    p.missing('metadata', 'is required (metadata.name at least)');
    return p.list;
  }
  const nameWhy = nameProblem(info, meta.name);
  if (nameWhy) p.add('metadata.name', meta.name, nameWhy);
  if (info.namespaced) {
    const nsWhy = validateDnsLabel(meta.namespace);
    if (nsWhy) p.add('metadata.namespace', meta.namespace, `${nsWhy} (a DNS-1123 label)`);
  } else if (meta.namespace !== '') {
    p.add('metadata.namespace', meta.namespace, `must be empty: a ${info.kind} belongs to no namespace`);
  }
  checkLabels(p, 'metadata.labels', meta.labels);
  checkAnnotations(p, 'metadata.annotations', meta.annotations);
  return p.list;
}

/** The metadata a manifest gives, with the namespace defaulted and the cluster's fields cleared. */
export function manifestMeta(info: KindInfo, meta: ObjectMeta | undefined): ObjectMeta {
  return {
    name: meta?.name ?? '',
    namespace: info.namespaced ? meta?.namespace || defaultNamespace : (meta?.namespace ?? ''),
    uid: '',
    resourceVersion: '',
    generation: 0,
    creationTimestamp: '',
    deletionTimestamp: '',
    labels: { ...(meta?.labels ?? {}) },
    annotations: { ...(meta?.annotations ?? {}) },
    ownerReferences: [],
    deletionGracePeriodSeconds: undefined,
  };
}

/** Problems found in a part of an object, with their paths put under prefix ("spec.template"). */
export function underField(prefix: string, problems: readonly FieldProblem[]): FieldProblem[] {
  return problems.map((x) => ({ ...x, field: `${prefix}.${x.field}`, message: `${prefix}.${x.message}` }));
}

/** Whether two string maps hold the same pairs. */
export function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}
