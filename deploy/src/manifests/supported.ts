// The fields of Kubernetes' models that Flotilla's proto carries, by @kubernetes/client-node
// model name. A manifest field Kubernetes knows but this table does not list is refused as
// "not supported by Flotilla" instead of being dropped on the way to the proto. A model
// missing here is not checked (status subtrees: the API ignores status on apply).

export const supportedFields: Readonly<Record<string, readonly string[]>> = {
  V1ObjectMeta: [
    'name',
    'namespace',
    'uid',
    'resourceVersion',
    'generation',
    'creationTimestamp',
    'deletionTimestamp',
    'labels',
    'annotations',
    'deletionGracePeriodSeconds',
    'ownerReferences',
  ],
  V1OwnerReference: ['apiVersion', 'kind', 'name', 'uid', 'controller'],
  V1LabelSelector: ['matchLabels', 'matchExpressions'],
  V1LabelSelectorRequirement: ['key', 'operator', 'values'],

  V1Namespace: ['apiVersion', 'kind', 'metadata', 'status'],
  V1Service: ['apiVersion', 'kind', 'metadata', 'spec', 'status'],
  V1ServiceSpec: ['type', 'selector', 'ports', 'clusterIP'],
  V1ServicePort: ['name', 'protocol', 'port', 'targetPort', 'nodePort'],

  V1Deployment: ['apiVersion', 'kind', 'metadata', 'spec', 'status'],
  V1DeploymentSpec: [
    'replicas',
    'selector',
    'template',
    'strategy',
    'minReadySeconds',
    'revisionHistoryLimit',
    'progressDeadlineSeconds',
    'paused',
  ],
  V1DeploymentStrategy: ['type', 'rollingUpdate'],
  V1RollingUpdateDeployment: ['maxSurge', 'maxUnavailable'],

  V1Pod: ['apiVersion', 'kind', 'metadata', 'spec', 'status'],
  V1PodTemplateSpec: ['metadata', 'spec'],
  V1PodSpec: [
    'containers',
    'restartPolicy',
    'nodeName',
    'nodeSelector',
    'terminationGracePeriodSeconds',
    'hostname',
    'volumes',
    'tolerations',
    'affinity',
  ],
  V1Toleration: ['key', 'operator', 'value', 'effect', 'tolerationSeconds'],
  V1Affinity: ['nodeAffinity'],
  V1NodeAffinity: [
    'requiredDuringSchedulingIgnoredDuringExecution',
    'preferredDuringSchedulingIgnoredDuringExecution',
  ],
  V1NodeSelector: ['nodeSelectorTerms'],
  V1NodeSelectorTerm: ['matchExpressions', 'matchFields'],
  V1NodeSelectorRequirement: ['key', 'operator', 'values'],
  V1PreferredSchedulingTerm: ['weight', 'preference'],
  V1Volume: ['name', 'hostPath', 'emptyDir'],
  V1HostPathVolumeSource: ['path', 'type'],
  V1EmptyDirVolumeSource: ['medium', 'sizeLimit'],
  V1Container: [
    'name',
    'image',
    'command',
    'args',
    'workingDir',
    'ports',
    'env',
    'resources',
    'imagePullPolicy',
    'volumeMounts',
    'livenessProbe',
    'readinessProbe',
    'startupProbe',
    'stdin',
    'stdinOnce',
    'tty',
  ],
  V1ContainerPort: ['name', 'containerPort', 'hostPort', 'hostIP', 'protocol'],
  V1EnvVar: ['name', 'value'],
  V1ResourceRequirements: ['limits', 'requests'],
  V1VolumeMount: ['name', 'mountPath', 'readOnly', 'subPath'],
  V1Probe: [
    'exec',
    'httpGet',
    'tcpSocket',
    'initialDelaySeconds',
    'timeoutSeconds',
    'periodSeconds',
    'successThreshold',
    'failureThreshold',
  ],
  V1ExecAction: ['command'],
  V1HTTPGetAction: ['path', 'port', 'host', 'scheme', 'httpHeaders'],
  V1HTTPHeader: ['name', 'value'],
  V1TCPSocketAction: ['port', 'host'],
};

/**
 * Fields whose strings are quantities ("500m", "64Mi"): a manifest may write them as
 * numbers (cpu: 1), as Kubernetes accepts; the proto takes them as strings.
 */
export const quantityFields: Readonly<Record<string, readonly string[]>> = {
  V1ResourceRequirements: ['limits', 'requests'],
  V1EmptyDirVolumeSource: ['sizeLimit'],
};
