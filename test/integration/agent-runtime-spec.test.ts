// The generated config is one runc accepts and enforces: a container runs in the pod's
// network namespace with the pod name as hostname, Docker's capabilities, the seccomp
// profile, a memory limit and a read-only hostPath volume.
import t from 'tap';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { containerOciConfig, loadDefaultSeccomp } from '@flotilla/agent';
import { busyboxImageConfig, busyboxRootfs, readHostLimits } from '@flotilla/images';
import type { Pod } from '@flotilla/proto';
import { makeRunDir, runCommand } from '../lib/index.js';

const name = `flt-test-spec-${process.pid}`;
const cgroupParent = `/${name}`;
const run = makeRunDir('agent-runtime-spec');
const runcRoot = join(run, 'runc-root');

/** Removes the test's cgroup tree from every v1 hierarchy, deepest first. */
function removeCgroups(): void {
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    const top = join('/sys/fs/cgroup', hierarchy, name);
    if (!existsSync(top)) continue;
    const visit = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) visit(join(dir, entry.name));
      }
      rmdirSync(dir);
    };
    visit(top);
  }
}

t.teardown(async () => {
  await runCommand('runc', ['--root', runcRoot, 'delete', '--force', name]).catch(() => undefined);
  await runCommand('ip', ['netns', 'del', name]).catch(() => undefined);
  try {
    removeCgroups();
  } finally {
    rmSync(run, { recursive: true, force: true });
  }
});

t.test('runc runs the generated config', async (t) => {
  const added = await runCommand('ip', ['netns', 'add', name]);
  t.equal(added.code, 0, `ip netns add: ${added.stderr}`);
  const bundle = join(run, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  await busyboxRootfs(rootfs);
  const www = join(run, 'www');
  mkdirSync(www);
  writeFileSync(join(www, 'index.html'), 'from the host\n');
  const seccomp = await loadDefaultSeccomp();
  t.ok(seccomp, 'the containers-common profile is installed');
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'spec-pod',
      namespace: 'default',
      uid: 'uid-1',
      resourceVersion: '',
      generation: 0,
      creationTimestamp: '',
      deletionTimestamp: '',
      labels: {},
      annotations: {},
      ownerReferences: [],
    },
    spec: {
      containers: [],
      restartPolicy: 'Never',
      nodeName: 'n',
      nodeSelector: {},
      hostname: '',
      volumes: [],
      stopped: false,
      tolerations: [],
      affinity: undefined,
    },
    status: undefined,
  };
  const script = [
    'hostname',
    'grep CapEff /proc/self/status',
    'grep Seccomp: /proc/self/status',
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes',
    'echo "greeting=$GREETING"',
    'cat /www/index.html',
    '(echo x > /www/new) 2>/dev/null && echo WROTE || echo READONLY',
    // "$$$$": Kubernetes' expansion turns "$$" into "$", so the shell sees "$$".
    'echo "pid=$$$$"',
    'readlink /proc/self/ns/net',
  ].join('; ');
  const config = containerOciConfig({
    pod,
    container: {
      name: 'main',
      image: 'busybox',
      command: ['sh', '-c', script],
      args: [],
      workingDir: '',
      ports: [],
      env: [{ name: 'GREETING', value: 'hi' }],
      resources: { limits: { memory: '64Mi', cpu: '500m' }, requests: {} },
      imagePullPolicy: 'Never',
      volumeMounts: [],
      livenessProbe: undefined,
      readinessProbe: undefined,
      startupProbe: undefined,
      stdin: false,
      stdinOnce: false,
      tty: false,
    },
    image: busyboxImageConfig(),
    rootfs: 'rootfs',
    netnsPath: `/run/netns/${name}`,
    volumes: [{ kind: 'hostPath', name: 'www', source: www, destination: '/www', readOnly: true }],
    hostLimits: await readHostLimits(),
    cgroupParent,
    accounts: {
      passwd: readFileSync(join(rootfs, 'etc/passwd'), 'utf8'),
      group: readFileSync(join(rootfs, 'etc/group'), 'utf8'),
    },
    ...(seccomp !== undefined ? { seccomp } : {}),
  });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
  const result = await runCommand('runc', ['--root', runcRoot, 'run', '--bundle', bundle, name], {
    timeoutMs: 30_000,
  });
  t.equal(result.code, 0, `runc run exits 0: ${result.stderr}`);
  const lines = result.stdout.trim().split('\n');
  t.same(lines, [
    'spec-pod',
    // Docker's default set, as `docker run busybox grep CapEff /proc/self/status` shows.
    'CapEff:\t00000000a80425fb',
    'Seccomp:\t2',
    String(64 * 1024 * 1024),
    'greeting=hi',
    'from the host',
    'READONLY',
    'pid=1',
    `net:[${statSync(`/run/netns/${name}`).ino}]`,
  ]);
  t.notOk(existsSync(join(www, 'new')), 'nothing was written to the read-only volume');
});
