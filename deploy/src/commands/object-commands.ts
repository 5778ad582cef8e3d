// The declarative commands (apply, diff, get, describe, delete, scale, rollout, cordon,
// uncordon, drain) as the command tree sees them: names, flags, help. Each implementation
// is imported when its command runs, so that `deploy --help`, `run` or `ps` load none of
// it (the manifest code in particular, with @kubernetes/client-node behind it).
import type { Command, CommandContext, FlagSpec } from '../cli/types.js';
import type * as RolloutModule from './rollout.js';
import type * as DrainModule from './drain.js';
import { kinds } from '../objects/kinds.js';
import { allNamespacesFlag, dryRunFlag, filenameFlag, objectNamespaceFlag } from './object-flag-specs.js';
import { outputFlag } from './shared.js';

type Run = (ctx: CommandContext) => Promise<number>;

/** A run that imports its module on first call. */
function lazy<M>(load: () => Promise<M>, pick: (module: M) => Run): Run {
  return async (ctx) => pick(await load())(ctx);
}

const timeoutFlag = (description: string, defaultValue?: string): FlagSpec => ({
  name: 'timeout',
  kind: 'duration',
  placeholder: 'DURATION',
  description,
  ...(defaultValue ? { default: defaultValue } : { defaultText: 'wait as long as it takes' }),
});

const gracePeriodFlag: FlagSpec = {
  name: 'grace-period',
  kind: 'int',
  min: 0,
  placeholder: 'SECONDS',
  description: 'pods: seconds to stop, instead of their terminationGracePeriodSeconds',
};

export const applyCommand: Command = {
  name: 'apply',
  summary: 'create or update objects from manifests',
  description:
    'Create or update the objects of Kubernetes-style manifests (Namespace, Pod, Deployment, Service).\n' +
    'Every document is checked first: an unknown field, a wrong type or a field Flotilla does\n' +
    'not support is reported with its file, document and field path, and nothing is sent. The controller\n' +
    'then writes all the objects in one transaction, or none.\n' +
    'With --wait, waits for every applied Deployment to finish its rollout: exit 0 when all succeeded,\n' +
    '1 when one failed (the reason is printed) or the time ran out.',
  flags: [
    filenameFlag,
    objectNamespaceFlag,
    dryRunFlag,
    { name: 'wait', kind: 'boolean', description: "wait for the Deployments' rollouts to finish" },
    timeoutFlag('how long --wait waits in all', '120s'),
  ],
  examples: [
    'deploy apply -f examples/web.yaml',
    'deploy apply -f manifests/ --wait --timeout 5m',
    'cat web.yaml | deploy apply -f -',
  ],
  run: lazy(
    () => import('./apply.js'),
    (m) => m.runApply,
  ),
};

export const diffCommand: Command = {
  name: 'diff',
  summary: 'show what apply would change',
  description:
    'Show the differences between the stored objects and what "deploy apply" would make of the\n' +
    'manifests (a dry run on the controller), as a unified diff of their YAML.\n' +
    'Exit status: 0 no differences, 1 differences, 2 an error.',
  flags: [filenameFlag, objectNamespaceFlag],
  examples: ['deploy diff -f examples/web.yaml'],
  run: lazy(
    () => import('./diff.js'),
    (m) => m.runDiff,
  ),
};

export const getCommand: Command = {
  name: 'get',
  summary: 'show objects of a kind',
  description:
    'Show objects of one kind as a table, as kubectl does, or as full objects (-o json|yaml).\n' +
    `Kinds: ${kinds.map((k) => `${k.resource} (${k.shortNames.join(', ')})`).join(', ')};\n` +
    'singular names and KIND/NAME work too. With -w, prints a row for each change until Ctrl-C.',
  args: { usage: 'KIND [NAME…] | KIND/NAME…', min: 1, max: 100 },
  flags: [
    outputFlag,
    { name: 'watch', short: 'w', kind: 'boolean', description: 'after the list, print each change' },
    objectNamespaceFlag,
    allNamespacesFlag,
    {
      name: 'selector',
      short: 'l',
      kind: 'string',
      placeholder: 'SELECTOR',
      description: 'only objects whose labels match, e.g. app=web,tier!=db',
    },
  ],
  examples: [
    'deploy get deployments',
    'deploy get pods -o wide -l app=web',
    'deploy get deploy web -o yaml',
    'deploy get pods -A -w',
    'deploy get nodes',
  ],
  run: lazy(
    () => import('./get.js'),
    (m) => m.runGet,
  ),
};

export const describeCommand: Command = {
  name: 'describe',
  summary: 'show an object in detail, with its events',
  description:
    'Show one object in detail, as kubectl describe does, with the events about it. For a pod that\n' +
    'is not running yet, the scheduler\'s reason ("0/3 nodes are available: …").',
  args: { usage: 'KIND NAME | KIND/NAME', min: 1, max: 2 },
  flags: [objectNamespaceFlag],
  examples: ['deploy describe deployment web', 'deploy describe pod/web-7d4b9-x2x8k'],
  run: lazy(
    () => import('./describe.js'),
    (m) => m.runDescribe,
  ),
};

export const deleteCommand: Command = {
  name: 'delete',
  summary: 'delete objects by manifest or by name',
  description:
    'Delete the objects of manifests (-f) or the named ones. A Deployment takes its ReplicaSets and\n' +
    'their pods with it; pods stop gracefully. Exit 1 when any could not be deleted.',
  args: { usage: '[KIND NAME… | KIND/NAME…]', min: 0, max: 100 },
  flags: [
    filenameFlag,
    objectNamespaceFlag,
    dryRunFlag,
    {
      name: 'ignore-not-found',
      kind: 'boolean',
      description: 'an object that does not exist is not an error',
    },
    gracePeriodFlag,
  ],
  examples: [
    'deploy delete -f examples/web.yaml',
    'deploy delete deployment web',
    'deploy delete pod/web-1 pod/web-2',
  ],
  run: lazy(
    () => import('./delete.js'),
    (m) => m.runDelete,
  ),
};

export const scaleCommand: Command = {
  name: 'scale',
  summary: 'set the number of replicas of a deployment',
  args: { usage: 'deployment/NAME', min: 1, max: 2 },
  flags: [
    {
      name: 'replicas',
      kind: 'int',
      min: 0,
      max: 2 ** 31 - 1,
      placeholder: 'N',
      description: 'the number of pods wanted',
    },
    objectNamespaceFlag,
  ],
  examples: ['deploy scale deployment/web --replicas 5'],
  run: lazy(
    () => import('./scale.js'),
    (m) => m.runScale,
  ),
};

const deploymentArgs = { usage: 'deployment/NAME', min: 1, max: 2 };
const rollout = (): Promise<typeof RolloutModule> => import('./rollout.js');

function rolloutActionCommand(verb: string, summary: string, flags: readonly FlagSpec[] = []): Command {
  return {
    name: verb,
    summary,
    args: deploymentArgs,
    flags: [objectNamespaceFlag, ...flags],
    run: lazy(rollout, (m) => (ctx) => m.runRolloutAction(ctx, verb)),
  };
}

export const rolloutCommand: Command = {
  name: 'rollout',
  summary: "follow, undo, pause or restart a deployment's rollout",
  subcommands: [
    {
      name: 'status',
      summary: 'wait for the rollout to finish, showing its progress',
      description:
        'Print the progress (updated, available of desired replicas) until the rollout finishes.\n' +
        'Exit 0 when it succeeded, 1 when it failed (missed its progress deadline, or is paused) or\n' +
        'the --timeout ran out, with the reason.',
      args: deploymentArgs,
      flags: [objectNamespaceFlag, timeoutFlag('give up after this long')],
      examples: ['deploy rollout status deployment/web --timeout 2m'],
      run: lazy(rollout, (m) => m.runRolloutStatus),
    },
    {
      name: 'history',
      summary: "list the deployment's revisions",
      args: deploymentArgs,
      flags: [
        objectNamespaceFlag,
        {
          name: 'revision',
          kind: 'int',
          min: 1,
          placeholder: 'N',
          description: 'show the pod template of revision N',
        },
      ],
      run: lazy(rollout, (m) => m.runRolloutHistory),
    },
    rolloutActionCommand('undo', 'go back to the previous revision, or to --to-revision N', [
      {
        name: 'to-revision',
        kind: 'int',
        min: 0,
        placeholder: 'N',
        description: 'the revision to go back to (0: the previous one)',
      },
    ]),
    rolloutActionCommand('pause', 'stop rolling out template changes until resume'),
    rolloutActionCommand('resume', 'roll out again after pause'),
    rolloutActionCommand('restart', 'replace every pod, one revision later, with the same template'),
  ],
};

const drain = (): Promise<typeof DrainModule> => import('./drain.js');
const nodeArgs = { usage: 'NODE', min: 1, max: 1 };

export const cordonCommand: Command = {
  name: 'cordon',
  summary: 'mark a node unschedulable: no new pods go there',
  args: nodeArgs,
  run: lazy(drain, (m) => (ctx) => m.runCordon(ctx, true)),
};

export const uncordonCommand: Command = {
  name: 'uncordon',
  summary: 'mark a node schedulable again',
  args: nodeArgs,
  run: lazy(drain, (m) => (ctx) => m.runCordon(ctx, false)),
};

export const drainCommand: Command = {
  name: 'drain',
  summary: 'cordon a node and evict its pods',
  description:
    'Cordon the node, then evict each of its pods. A pod whose Deployment cannot lose another\n' +
    'available pod yet (maxUnavailable) is retried until --timeout. Exit 0 when every pod was\n' +
    'evicted, 1 when some were not.',
  args: nodeArgs,
  flags: [
    timeoutFlag('give up after this long', '5m'),
    {
      ...gracePeriodFlag,
      description: 'seconds each pod gets to stop, instead of its terminationGracePeriodSeconds',
    },
  ],
  examples: ['deploy drain node-2', 'deploy drain node-2 --timeout 10m'],
  run: lazy(drain, (m) => m.runDrain),
};
