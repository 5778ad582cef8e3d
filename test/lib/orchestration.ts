// Helpers of the orchestration integration tests: Deployment manifests as users write
// them, the deploy CLI run as users run it, and the cluster seen through the object API.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readClientConfig, writeClientConfig } from '@flotilla/common';
import { connectCluster, type ClusterApi } from '@flotilla/deploy';
import { PodEvent_Type, type Deployment, type Pod, type ReplicaSet } from '@flotilla/proto';
import { deployMain } from './cluster.js';
import { runCommand, type RunResult } from './processes.js';

export interface WebManifest {
  name: string;
  image: string;
  replicas: number;
  maxSurge?: number;
  maxUnavailable?: number;
  minReadySeconds?: number;
  progressDeadlineSeconds?: number;
  annotations?: Record<string, string>;
  /** Adds a Service selecting the pods. */
  service?: boolean;
}

/** A Deployment (and a Service) in the YAML users apply. */
export function webManifest(m: WebManifest): string {
  const annotations = Object.entries(m.annotations ?? {});
  const lines = [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${m.name}`,
    '  labels:',
    `    app: ${m.name}`,
    ...(annotations.length > 0
      ? ['  annotations:', ...annotations.map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)]
      : []),
    'spec:',
    `  replicas: ${m.replicas}`,
    ...(m.minReadySeconds !== undefined ? [`  minReadySeconds: ${m.minReadySeconds}`] : []),
    ...(m.progressDeadlineSeconds !== undefined
      ? [`  progressDeadlineSeconds: ${m.progressDeadlineSeconds}`]
      : []),
    '  selector:',
    '    matchLabels:',
    `      app: ${m.name}`,
    '  strategy:',
    '    type: RollingUpdate',
    '    rollingUpdate:',
    `      maxSurge: ${m.maxSurge ?? 1}`,
    `      maxUnavailable: ${m.maxUnavailable ?? 0}`,
    '  template:',
    '    metadata:',
    '      labels:',
    `        app: ${m.name}`,
    '    spec:',
    '      containers:',
    '        - name: main',
    `          image: ${m.image}`,
    '          resources:',
    '            requests:',
    '              cpu: 100m',
    '              memory: 64Mi',
  ];
  if (m.service) {
    lines.push(
      '---',
      'apiVersion: v1',
      'kind: Service',
      'metadata:',
      `  name: ${m.name}`,
      'spec:',
      '  selector:',
      `    app: ${m.name}`,
      '  ports:',
      '    - port: 80',
      '      targetPort: 8080',
    );
  }
  return lines.join('\n') + '\n';
}

/** Writes the manifest into dir and returns its path. */
export function writeManifest(dir: string, file: string, m: WebManifest): string {
  const path = join(dir, file);
  writeFileSync(path, webManifest(m));
  return path;
}

/** `deploy --config CONFIG ARGS…`, through bin/deploy.js as users run it. */
export function deploy(config: string, args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return runCommand(process.execPath, [deployMain, '--config', config, ...args], { timeoutMs });
}

/** What a failed command printed, for assertion messages. */
export function output(r: RunResult): string {
  return `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

/** A copy of the admin config that talks to the controller at address (a replica). */
export async function configFor(adminConfig: string, address: string, path: string): Promise<string> {
  const config = await readClientConfig(adminConfig);
  await writeClientConfig(path, { ...config, server: address });
  return path;
}

export async function objectApi(config: string): Promise<ClusterApi> {
  return connectCluster(await readClientConfig(config));
}

const isTerminating = (p: Pod): boolean => (p.metadata?.deletionTimestamp ?? '') !== '';
export const isPodReady = (p: Pod): boolean =>
  p.status?.conditions.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
export const imageOf = (p: { spec?: { containers: Array<{ image: string }> } | undefined }): string =>
  p.spec?.containers[0]?.image ?? '';

/** The pods of app, terminating ones included. */
export async function podsOf(api: ClusterApi, app: string): Promise<Pod[]> {
  return (await api.listPods({ namespace: 'default', labelSelector: `app=${app}`, nodeName: '' })).items;
}

/** The pods of app that are not being deleted. */
export async function livePodsOf(api: ClusterApi, app: string): Promise<Pod[]> {
  return (await podsOf(api, app)).filter((p) => !isTerminating(p));
}

export async function deploymentOf(api: ClusterApi, name: string): Promise<Deployment> {
  const object = await api.getObject({ kind: 'Deployment', namespace: 'default', name });
  if (!object.deployment) throw new Error(`GetObject returned no deployment ${name}`);
  return object.deployment;
}

export async function replicaSetsOf(api: ClusterApi, app: string): Promise<ReplicaSet[]> {
  const list = await api.listObjects({
    kind: 'ReplicaSet',
    namespace: 'default',
    labelSelector: `app=${app}`,
    fieldSelector: '',
  });
  return list.items.flatMap((o) => (o.replicaSet ? [o.replicaSet] : []));
}

/**
 * Exactly `replicas` live pods of app, every one bound, Ready and running image, and no
 * terminating pod left; undefined (keep waiting) otherwise.
 */
export async function settled(
  api: ClusterApi,
  app: string,
  replicas: number,
  image?: string,
): Promise<Pod[] | undefined> {
  const pods = await podsOf(api, app);
  const ok =
    pods.length === replicas &&
    pods.every(
      (p) =>
        !isTerminating(p) &&
        (p.spec?.nodeName ?? '') !== '' &&
        isPodReady(p) &&
        (image === undefined || imageOf(p) === image),
    );
  return ok ? pods : undefined;
}

/** Every pod of app as a watch reports it, with a check run on each change. */
export class PodSampler {
  readonly pods = new Map<string, Pod>();
  /** The node each pod uid was first bound to, and the uids seen bound to a second one. */
  readonly boundTo = new Map<string, string>();
  readonly reboundUids = new Set<string>();
  samples = 0;
  private readonly stream: ReturnType<ClusterApi['watchPods']>;
  private readonly done: Promise<void>;
  onChange: ((pods: Pod[]) => void) | undefined;

  constructor(api: ClusterApi, app: string) {
    const stream = api.watchPods({
      namespace: 'default',
      name: '',
      labelSelector: `app=${app}`,
      resourceVersion: '',
    });
    this.done = (async () => {
      try {
        for await (const event of stream) {
          const pod = event.pod;
          const name = pod?.metadata?.name;
          if (!pod || !name) continue;
          if (event.type === PodEvent_Type.DELETED) this.pods.delete(name);
          else this.pods.set(name, pod);
          const uid = pod.metadata?.uid ?? '';
          const node = pod.spec?.nodeName ?? '';
          if (node !== '') {
            const first = this.boundTo.get(uid);
            if (first === undefined) this.boundTo.set(uid, node);
            else if (first !== node) this.reboundUids.add(uid);
          }
          this.samples++;
          this.onChange?.([...this.pods.values()]);
        }
      } catch {
        // the watch ended with its controller; the test asserts on what it saw
      }
    })();
    this.stream = stream;
  }

  live(): Pod[] {
    return [...this.pods.values()].filter((p) => !isTerminating(p));
  }
  available(): number {
    return this.live().filter(isPodReady).length;
  }

  async close(): Promise<void> {
    this.stream.cancel();
    await this.done;
  }
}
