// What a new pod gets filled in before it is validated and stored: Kubernetes' defaults
// for the fields Flotilla has, and the identity of the object. Pure.
import type { Container, Pod, PodCondition, PodStatus, Probe } from '@flotilla/proto';
import { httpGetDefaults, probeTiming } from '@flotilla/common';
import { parseReference } from '@flotilla/images';

export const podApiVersion = 'v1';
export const podKind = 'Pod';
export const defaultNamespace = 'default';
export const defaultTerminationGracePeriodSeconds = 30;

/** Annotations with a meaning to the controller and the agents (docs/CONTRACTS.md). */
export const podAnnotations = {
  /** "true": delete the pod once its phase is Succeeded or Failed (deploy run --rm). */
  autoRemove: 'flotilla.io/auto-remove',
  /** RFC 3339: a change asks the agent to run the pod's terminated containers again. */
  restartedAt: 'flotilla.io/restartedAt',
} as const;

/**
 * Kubernetes' rule: Always when the image names the tag "latest" or no tag at all (and no
 * digest), IfNotPresent otherwise. "" when the image is not a valid reference (validation
 * then says why).
 */
export function defaultImagePullPolicy(image: string): string {
  try {
    const ref = parseReference(image);
    if (ref.digest === undefined && ref.tag === 'latest') return 'Always';
    return 'IfNotPresent';
  } catch {
    return '';
  }
}

/** Kubernetes' probe defaults, @flotilla/common's (the agent resolves probes with the same). */
function withProbeDefaults(probe: Probe | undefined): Probe | undefined {
  if (!probe) return undefined;
  return {
    ...probe,
    httpGet: probe.httpGet
      ? {
          ...probe.httpGet,
          path: probe.httpGet.path || httpGetDefaults.path,
          scheme: probe.httpGet.scheme || httpGetDefaults.scheme,
        }
      : undefined,
    ...probeTiming(probe),
  };
}

function containerDefaults(c: Container): Container {
  return {
    ...c,
    imagePullPolicy: c.imagePullPolicy || defaultImagePullPolicy(c.image),
    ports: c.ports.map((p) => ({ ...p, protocol: p.protocol || 'TCP' })),
    livenessProbe: withProbeDefaults(c.livenessProbe),
    readinessProbe: withProbeDefaults(c.readinessProbe),
    startupProbe: withProbeDefaults(c.startupProbe),
  };
}

export interface NewPodIdentity {
  uid: string;
  now: Date;
}

/**
 * The pod as a create stores it: defaults filled, a fresh identity (uid, creation time,
 * generation 1), no deletion marks, and the status it starts with (Pending).
 */
export function newPod(input: Pod, identity: NewPodIdentity): Pod {
  const meta = input.metadata;
  const spec = input.spec;
  return {
    apiVersion: podApiVersion,
    kind: podKind,
    metadata: {
      name: meta?.name ?? '',
      namespace: meta?.namespace || defaultNamespace,
      uid: identity.uid,
      resourceVersion: '',
      generation: 1,
      creationTimestamp: identity.now.toISOString(),
      deletionTimestamp: '',
      labels: { ...(meta?.labels ?? {}) },
      annotations: { ...(meta?.annotations ?? {}) },
      ownerReferences: [],
      deletionGracePeriodSeconds: undefined,
    },
    spec: spec
      ? {
          ...spec,
          restartPolicy: spec.restartPolicy || 'Always',
          terminationGracePeriodSeconds:
            spec.terminationGracePeriodSeconds ?? defaultTerminationGracePeriodSeconds,
          containers: spec.containers.map(containerDefaults),
          nodeSelector: { ...spec.nodeSelector },
          volumes: [...spec.volumes],
        }
      : undefined,
    status: pendingStatus(),
  };
}

export function pendingStatus(): PodStatus {
  return {
    phase: 'Pending',
    reason: '',
    message: '',
    hostIP: '',
    podIP: '',
    startTime: '',
    conditions: [],
    containerStatuses: [],
  };
}

/** The PodScheduled condition: True once bound, False with reason Unschedulable otherwise. */
export function scheduledCondition(scheduled: boolean, now: Date, message = ''): PodCondition {
  return {
    type: 'PodScheduled',
    status: scheduled ? 'True' : 'False',
    lastProbeTime: '',
    lastTransitionTime: now.toISOString(),
    reason: scheduled ? '' : 'Unschedulable',
    message,
  };
}
