// `deploy inspect`: a pod in the shape of `docker inspect`'s container JSON, with the pod
// itself under "Pod". Pure.
import { Pod } from '@flotilla/proto';
import { autoRemoveAnnotation, restartPolicies } from '../pods/run-spec.js';
import { containerStatusOf, dockerState, exitCodeOf, mainContainer } from '../pods/state.js';
import { parseQuantity } from './quantity.js';

/** Docker writes this for times that never happened. */
const zeroTime = '0001-01-01T00:00:00Z';

const restartNames = Object.fromEntries(Object.entries(restartPolicies).map(([k, v]) => [v, k]));

export type InspectDocument = Record<string, unknown>;

/** What the image's config says, when the CLI can see the image (its local store). */
export interface ImageDefaults {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
}

/** Kubernetes' rules for command/args over the image's Entrypoint/Cmd. */
export function effectiveCommand(
  command: readonly string[],
  args: readonly string[],
  image: ImageDefaults | undefined,
): { entrypoint: string[] | null; cmd: string[] | null } {
  const entrypoint = command.length > 0 ? [...command] : (image?.Entrypoint ?? null);
  const cmd = args.length > 0 ? [...args] : command.length > 0 ? null : (image?.Cmd ?? null);
  return {
    entrypoint: entrypoint && entrypoint.length > 0 ? entrypoint : null,
    cmd: cmd && cmd.length > 0 ? cmd : null,
  };
}

/** The image's env, then the spec's, a later name replacing an earlier one. */
export function effectiveEnv(
  spec: readonly { name: string; value: string }[],
  image: ImageDefaults | undefined,
): string[] {
  const vars = new Map<string, string>();
  for (const line of image?.Env ?? []) {
    const eq = line.indexOf('=');
    vars.set(eq >= 0 ? line.slice(0, eq) : line, eq >= 0 ? line.slice(eq + 1) : '');
  }
  for (const e of spec) vars.set(e.name, e.value);
  return [...vars].map(([k, v]) => `${k}=${v}`);
}

export function inspectPod(pod: Pod, image?: ImageDefaults): InspectDocument {
  const meta = pod.metadata;
  const spec = pod.spec;
  const container = mainContainer(pod);
  const status = containerStatusOf(pod);
  const state = dockerState(pod);
  const terminated = status?.state?.terminated ?? status?.lastState?.terminated;
  const running = status?.state?.running;
  const waiting = status?.state?.waiting;
  const command = container?.command ?? [];
  const args = container?.args ?? [];
  const effective = effectiveCommand(command, args, image);
  const argv = [...(effective.entrypoint ?? []), ...(effective.cmd ?? [])];

  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const c of spec?.containers ?? []) {
    for (const p of c.ports) {
      const key = `${p.containerPort}/${(p.protocol || 'TCP').toLowerCase()}`;
      exposed[key] = {};
      if (p.hostPort) {
        bindings[key] = [...(bindings[key] ?? []), { HostIp: p.hostIP, HostPort: String(p.hostPort) }];
      } else bindings[key] ??= [];
    }
  }
  const networkPorts: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const [key, list] of Object.entries(bindings)) {
    networkPorts[key] =
      list.length === 0 ? null : list.map((b) => ({ HostIp: b.HostIp || '0.0.0.0', HostPort: b.HostPort }));
  }

  const volumes = new Map((spec?.volumes ?? []).map((v) => [v.name, v]));
  const mounts = (container?.volumeMounts ?? []).map((m) => {
    const volume = volumes.get(m.name);
    const hostPath = volume?.hostPath?.path;
    return hostPath !== undefined
      ? {
          Type: 'bind',
          Source: hostPath,
          Destination: m.mountPath,
          Mode: m.readOnly ? 'ro' : '',
          RW: !m.readOnly,
          Propagation: 'rprivate',
        }
      : {
          Type: 'volume',
          Name: m.name,
          Source: '',
          Destination: m.mountPath,
          Driver: 'local',
          Mode: '',
          RW: !m.readOnly,
          Propagation: '',
        };
  });
  const binds = (container?.volumeMounts ?? []).flatMap((m) => {
    const hostPath = volumes.get(m.name)?.hostPath?.path;
    return hostPath === undefined ? [] : [`${hostPath}:${m.mountPath}${m.readOnly ? ':ro' : ''}`];
  });

  const limits = container?.resources?.limits ?? {};
  const memory = parseQuantity(limits.memory) ?? 0;
  const cpus = parseQuantity(limits.cpu) ?? 0;
  const error =
    (waiting && waiting.reason !== 'ContainerCreating'
      ? [waiting.reason, waiting.message].filter(Boolean).join(': ')
      : '') ||
    (terminated && terminated.reason !== 'Completed' && terminated.reason !== 'Error'
      ? terminated.message
      : '');

  return {
    Id: meta?.uid ?? '',
    Created: meta?.creationTimestamp ?? '',
    Path: argv[0] ?? '',
    Args: argv.slice(1),
    State: {
      Status: state,
      Running: state === 'running',
      Paused: false,
      Restarting: state === 'restarting',
      OOMKilled: terminated?.reason === 'OOMKilled',
      Dead: state === 'dead',
      Pid: 0,
      ExitCode: terminated && state !== 'running' ? exitCodeOf(terminated) : 0,
      Error: error ?? '',
      StartedAt: running?.startedAt || terminated?.startedAt || zeroTime,
      FinishedAt: (state !== 'running' && terminated?.finishedAt) || zeroTime,
      ...(container?.readinessProbe
        ? {
            Health: {
              Status: status?.ready ? 'healthy' : status?.started === false ? 'starting' : 'unhealthy',
            },
          }
        : {}),
    },
    Image: status?.imageID || container?.image || '',
    Name: `/${meta?.name ?? ''}`,
    Namespace: meta?.namespace ?? '',
    RestartCount: status?.restartCount ?? 0,
    Node: spec?.nodeName ?? '',
    HostConfig: {
      Binds: binds.length > 0 ? binds : null,
      PortBindings: bindings,
      RestartPolicy: { Name: restartNames[spec?.restartPolicy ?? ''] ?? 'no', MaximumRetryCount: 0 },
      AutoRemove: meta?.annotations[autoRemoveAnnotation] === 'true',
      Memory: Math.round(memory),
      NanoCpus: Math.round(cpus * 1e9),
    },
    Mounts: mounts,
    Config: {
      Hostname: spec?.hostname || meta?.name || '',
      Tty: container?.tty ?? false,
      OpenStdin: container?.stdin ?? false,
      StdinOnce: container?.stdinOnce ?? false,
      AttachStdin: container?.stdin ?? false,
      ExposedPorts: Object.keys(exposed).length > 0 ? exposed : null,
      Env: effectiveEnv(container?.env ?? [], image),
      // The spec's command and args over the image's Entrypoint and Cmd (when the CLI sees the image).
      Cmd: effective.cmd,
      Entrypoint: effective.entrypoint,
      Image: container?.image ?? '',
      WorkingDir: container?.workingDir || image?.WorkingDir || '',
      Labels: meta?.labels ?? {},
      Annotations: meta?.annotations ?? {},
    },
    NetworkSettings: {
      IPAddress: pod.status?.podIP ?? '',
      Ports: networkPorts,
    },
    Pod: Pod.toJSON(pod),
  };
}
