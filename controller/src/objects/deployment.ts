// Deployment defaults and validation, Kubernetes' apps/v1 rules for the fields Flotilla
// has. The pod template is checked with the pod rules (pods/validate-pod.ts) under
// spec.template. Pure.
import { DeploymentSpec, type Deployment, type Pod, type PodTemplateSpec } from '@flotilla/proto';
import { FieldProblems, type FieldProblem } from '@flotilla/common';
import { newPod } from '../pods/defaults.js';
import { podProblems } from '../pods/validate-pod.js';
import { kinds } from './kinds.js';
import { parseIntOrPercent, resolveIntOrPercent } from './int-or-percent.js';
import { manifestMeta, metaProblems, underField } from './meta.js';
import { checkLabelSelector, selectorMatches } from './selector.js';

export const deploymentDefaults = {
  replicas: 1,
  strategy: 'RollingUpdate',
  maxSurge: '25%',
  maxUnavailable: '25%',
  revisionHistoryLimit: 10,
  progressDeadlineSeconds: 600,
} as const;

export const strategyTypes = ['RollingUpdate', 'Recreate'] as const;

/** The template's spec with the pod defaults filled in (restartPolicy, pull policy, probes…). */
function defaultTemplate(template: PodTemplateSpec | undefined): PodTemplateSpec | undefined {
  if (!template) return undefined;
  const asPod = newPod(
    { apiVersion: 'v1', kind: 'Pod', metadata: template.metadata, spec: template.spec, status: undefined },
    { uid: '', now: new Date(0) },
  );
  return {
    metadata: { ...manifestMeta(kinds.Pod, template.metadata), name: '', namespace: '' },
    spec: asPod.spec,
  };
}

/** A manifest's Deployment with Kubernetes' defaults and the cluster-owned fields cleared. */
export function defaultDeployment(input: Deployment): Deployment {
  const metadata = manifestMeta(kinds.Deployment, input.metadata);
  const spec = input.spec ?? DeploymentSpec.fromJSON({});
  const type = spec.strategy?.type || deploymentDefaults.strategy;
  return {
    apiVersion: kinds.Deployment.apiVersion,
    kind: 'Deployment',
    metadata,
    spec: {
      ...spec,
      replicas: spec.replicas ?? deploymentDefaults.replicas,
      template: defaultTemplate(spec.template),
      strategy: {
        type,
        rollingUpdate:
          type === 'RollingUpdate'
            ? {
                maxSurge: spec.strategy?.rollingUpdate?.maxSurge ?? deploymentDefaults.maxSurge,
                maxUnavailable:
                  spec.strategy?.rollingUpdate?.maxUnavailable ?? deploymentDefaults.maxUnavailable,
              }
            : spec.strategy?.rollingUpdate,
      },
      revisionHistoryLimit: spec.revisionHistoryLimit ?? deploymentDefaults.revisionHistoryLimit,
      progressDeadlineSeconds: spec.progressDeadlineSeconds ?? deploymentDefaults.progressDeadlineSeconds,
    },
    status: undefined,
  };
}

/** The template as a pod, for the pod rules; its name is generated, so a valid stand-in. */
function templatePod(d: Deployment, template: PodTemplateSpec): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...manifestMeta(kinds.Pod, template.metadata),
      name: 'template',
      namespace: d.metadata?.namespace || 'default',
    },
    spec: template.spec,
    status: undefined,
  };
}

/** Every problem with a defaulted Deployment; empty when it may be stored. */
export function deploymentProblems(d: Deployment): FieldProblem[] {
  const p = new FieldProblems();
  p.list.push(...metaProblems(kinds.Deployment, d.metadata));
  const spec = d.spec;
  if (!spec) {
    p.missing('spec', 'is required (spec.selector and spec.template at least)');
    return p.list;
  }
  const replicas = spec.replicas ?? deploymentDefaults.replicas;
  if (!Number.isInteger(replicas) || replicas < 0) p.add('spec.replicas', replicas, 'must be 0 or more');
  checkLabelSelector(p, 'spec.selector', spec.selector);

  const template = spec.template;
  if (!template) p.missing('spec.template', 'is required: the pod template the replicas are made from');
  else {
    const labels = template.metadata?.labels ?? {};
    if (Object.keys(labels).length === 0) {
      p.missing('spec.template.metadata.labels', 'are required: labels spec.selector selects');
    } else if (spec.selector && !selectorMatches(spec.selector, labels)) {
      p.add(
        'spec.selector',
        spec.selector.matchLabels,
        `does not select the template's labels ${JSON.stringify(labels)}: the selector must match spec.template.metadata.labels`,
      );
    }
    const podProblemsOfTemplate = podProblems(templatePod(d, template)).filter(
      (x) => x.field !== 'metadata.name' && x.field !== 'metadata.namespace',
    );
    p.list.push(...underField('spec.template', podProblemsOfTemplate));
    const restart = template.spec?.restartPolicy ?? '';
    if (restart !== '' && restart !== 'Always') {
      p.add(
        'spec.template.spec.restartPolicy',
        restart,
        'must be "Always" for a Deployment (its pods run until replaced)',
      );
    }
  }

  const strategy = spec.strategy;
  const type = strategy?.type ?? '';
  if (!(strategyTypes as readonly string[]).includes(type)) {
    p.add('spec.strategy.type', type, `must be one of ${strategyTypes.map((s) => `"${s}"`).join(', ')}`);
  } else if (type === 'Recreate') {
    if (
      strategy?.rollingUpdate?.maxSurge !== undefined ||
      strategy?.rollingUpdate?.maxUnavailable !== undefined
    ) {
      p.missing('spec.strategy.rollingUpdate', 'may not be set when spec.strategy.type is "Recreate"');
    }
  } else {
    const surgeText = strategy?.rollingUpdate?.maxSurge ?? deploymentDefaults.maxSurge;
    const unavailableText = strategy?.rollingUpdate?.maxUnavailable ?? deploymentDefaults.maxUnavailable;
    const surge = parseIntOrPercent(surgeText);
    const unavailable = parseIntOrPercent(unavailableText);
    const intOrPercent = 'must be a number of pods (0 or more, such as 1) or a percentage (such as 25%)';
    if (!surge) p.add('spec.strategy.rollingUpdate.maxSurge', surgeText, intOrPercent);
    if (!unavailable) p.add('spec.strategy.rollingUpdate.maxUnavailable', unavailableText, intOrPercent);
    if (unavailable?.type === 'percent' && unavailable.value > 100) {
      p.add('spec.strategy.rollingUpdate.maxUnavailable', unavailableText, 'must not be more than 100%');
    }
    if (surge && unavailable && surge.value === 0 && unavailable.value === 0) {
      p.add(
        'spec.strategy.rollingUpdate.maxUnavailable',
        unavailableText,
        'may not be 0 when maxSurge is 0 too: a rollout could then never replace a pod',
      );
    }
  }
  if (!Number.isInteger(spec.minReadySeconds) || spec.minReadySeconds < 0) {
    p.add('spec.minReadySeconds', spec.minReadySeconds, 'must be 0 or more');
  }
  const history = spec.revisionHistoryLimit ?? deploymentDefaults.revisionHistoryLimit;
  if (!Number.isInteger(history) || history < 0)
    p.add('spec.revisionHistoryLimit', history, 'must be 0 or more');
  const deadline = spec.progressDeadlineSeconds ?? deploymentDefaults.progressDeadlineSeconds;
  if (!Number.isInteger(deadline) || deadline <= spec.minReadySeconds) {
    p.add(
      'spec.progressDeadlineSeconds',
      deadline,
      `must be more than spec.minReadySeconds (${spec.minReadySeconds})`,
    );
  }
  return p.list;
}

/** The most pods of a deployment that may be unavailable: replicas − this must stay available. */
export function maxUnavailableOf(d: Deployment): number {
  const spec = d.spec;
  const replicas = spec?.replicas ?? deploymentDefaults.replicas;
  if (spec?.strategy?.type === 'Recreate') return replicas;
  const text = spec?.strategy?.rollingUpdate?.maxUnavailable ?? deploymentDefaults.maxUnavailable;
  const value = parseIntOrPercent(text) ?? { type: 'percent', value: 25 };
  return resolveIntOrPercent(value, replicas, false);
}
