// The agent's image service against a real docker-registry on loopback: a pod's image is
// pulled and unpacked, a missing one fails "not found", pull policies are honoured, a
// registry with htpasswd refuses anonymous pulls and accepts the auth file's credentials,
// and GC removes an image no pod wants, with its blobs and snapshots.
import t, { type Test } from 'tap';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '@flotilla/common';
import {
  DesiredSet,
  ImageService,
  type ImageServiceOptions,
  type ImageStatus,
  type ImageStatusEvent,
} from '@flotilla/agent';
import {
  FileContentStore,
  FileImageStore,
  RegistryClient,
  parseReference,
  type RegistryHostOptions,
} from '@flotilla/images';
import { AssignmentEvent_Type as Type, type Pod } from '@flotilla/proto';
import {
  freePort,
  makeRunDir,
  makeTestImage,
  startRegistry,
  waitFor,
  type RegistryServer,
  type TestImage,
} from '../lib/index.js';

const dir = makeRunDir('agent-images');
const cleanups: (() => Promise<void> | void)[] = [];
t.teardown(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

let registry: RegistryServer;
t.before(async () => {
  registry = await startRegistry(dir);
  cleanups.push(() => registry.stop());
});

let count = 0;

/** Builds an image in a scratch store and pushes it to the registry. */
async function pushImage(
  name: string,
  layers: Record<string, string>[],
  hosts: Record<string, RegistryHostOptions> = {},
  credentials?: { username: string; password: string },
): Promise<TestImage> {
  const root = join(dir, `source-${++count}`);
  const stores = {
    content: new FileContentStore(join(root, 'content'), { logger: silentLogger }),
    images: new FileImageStore(join(root, 'images.json')),
  };
  const image = await makeTestImage(dir, stores, name, layers);
  const client = new RegistryClient({
    logger: silentLogger,
    hosts,
    ...(credentials !== undefined ? { credentials: async () => credentials } : {}),
  });
  try {
    await client.push(parseReference(name), stores);
  } finally {
    client.close();
  }
  return image;
}

function pod(name: string, images: { image: string; imagePullPolicy?: string }[]): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: `${name}-uid`,
      resourceVersion: '1',
      generation: 1,
      creationTimestamp: '',
      deletionTimestamp: '',
      labels: {},
      annotations: {},
      ownerReferences: [],
    },
    spec: {
      containers: images.map((c, i) => ({
        name: `c${i}`,
        image: c.image,
        command: [],
        args: [],
        workingDir: '',
        ports: [],
        env: [],
        resources: undefined,
        imagePullPolicy: c.imagePullPolicy ?? '',
        volumeMounts: [],
        livenessProbe: undefined,
        readinessProbe: undefined,
        startupProbe: undefined,
        stdin: false,
        stdinOnce: false,
        tty: false,
      })),
      restartPolicy: 'Always',
      nodeName: 'node-a',
      nodeSelector: {},
      hostname: '',
      volumes: [],
      stopped: false,
      tolerations: [],
      affinity: undefined,
    },
    status: undefined,
  };
}

let revision = 0;
function snapshot(desired: DesiredSet, ...pods: Pod[]): void {
  desired.apply({ type: Type.SNAPSHOT, revision: ++revision, pods });
}

function startService(
  t: Test,
  desired: DesiredSet,
  options: Partial<ImageServiceOptions> = {},
): { service: ImageService; events: ImageStatusEvent[] } {
  const service = new ImageService({
    root: join(dir, `node-${++count}`),
    desired,
    logger: silentLogger,
    retryBackoff: { initialMs: 100, maxMs: 400 },
    registryAttempts: 2,
    // GC only when a test asks: the periodic one would run with the real disk's use.
    gc: { intervalMs: 3_600_000, highPercent: 100, lowPercent: 100 },
    ...options,
  });
  const events: ImageStatusEvent[] = [];
  service.events.on('status', (e) => events.push(e));
  service.start();
  t.teardown(() => service.stop());
  return { service, events };
}

async function statusOf(
  service: ImageService,
  image: string,
  state: ImageStatus['state'],
): Promise<ImageStatus> {
  return waitFor(`${image} to be ${state}`, () => {
    const status = service.imageStatus(image);
    return status.state === state ? status : undefined;
  });
}

t.test('a pod image is pulled and unpacked; GC removes it only once no pod wants it', async (t) => {
  const name = `${registry.host}/team/app:v1`;
  const image = await pushImage(name, [
    { 'bin/app': '#!/bin/sh\necho app\n', 'etc/motd': 'hello\n' },
    { 'srv/index.html': '<h1>hi</h1>\n' },
  ]);
  const desired = new DesiredSet();
  const { service, events } = startService(t, desired);
  // Two pods share the image: one pull.
  snapshot(desired, pod('web-1', [{ image: name }]), pod('web-2', [{ image: name }]));

  const status = await statusOf(service, name, 'present');
  if (status.state !== 'present') return;
  t.equal(status.digest, image.manifest.digest, 'the manifest the registry has');
  t.equal(status.chainIds.length, 2, 'a chain ID per layer');
  t.equal(
    events.filter((e) => e.image === name && e.status.state === 'pulling').length,
    1,
    'two pods, one pull',
  );
  const { content, images, snapshots } = service.stores;
  t.equal((await images.get(name))?.target.digest, image.manifest.digest, 'the name is in the store');
  for (const blob of [image.config, ...image.layers]) {
    t.ok(await content.info(blob.digest), `blob ${blob.digest} stored`);
  }
  const top = await snapshots.stat(status.chainIds[1]!);
  t.ok(top, 'the top snapshot exists');
  t.equal(readFileSync(join(top!.path, 'srv/index.html'), 'utf8'), '<h1>hi</h1>\n', 'layer 2 unpacked');
  const bottom = await snapshots.stat(status.chainIds[0]!);
  t.equal(readFileSync(join(bottom!.path, 'etc/motd'), 'utf8'), 'hello\n', 'layer 1 unpacked');

  // Wanted by a pod: even GC at 0/0 keeps it.
  const kept = await service.collectGarbage({ highPercent: 0, lowPercent: 0 });
  t.strictSame(kept.removedImages, [], 'an image in use is not removed');
  t.ok(await images.get(name), 'still stored');

  // The pods go; GC at 0/0 removes the image, its blobs and its snapshots.
  snapshot(desired);
  const gc = await service.collectGarbage({ highPercent: 0, lowPercent: 0 });
  t.strictSame(gc.removedImages, [name], 'the unused image is removed');
  t.equal(await images.get(name), undefined, 'its name is gone');
  for (const blob of [image.manifest, image.config, ...image.layers]) {
    t.equal(await content.info(blob.digest), undefined, `blob ${blob.digest} removed`);
  }
  t.strictSame(await snapshots.list(), [], 'its snapshots are removed');
  t.equal(existsSync(top!.path), false, 'the snapshot directory is gone');
  t.equal(service.imageStatus(name).state, 'absent', 'its status says so');
});

t.test('failures carry a reason and are retried: not found, unreachable, Never', async (t) => {
  const desired = new DesiredSet();
  const { service } = startService(t, desired);
  const missing = `${registry.host}/team/missing:v1`;
  const closedPort = await freePort();
  const unreachable = `127.0.0.1:${closedPort}/team/app:v1`;
  const never = `${registry.host}/team/never:v1`;
  snapshot(
    desired,
    pod('missing', [{ image: missing }]),
    pod('unreachable', [{ image: unreachable }]),
    pod('never', [{ image: never, imagePullPolicy: 'Never' }]),
    pod('bad', [{ image: 'Not A Reference' }]),
  );
  const notFound = await statusOf(service, missing, 'failed');
  t.match(notFound, { reason: 'not-found', message: /not found/ }, 'a tag the registry does not have');
  t.match(await statusOf(service, unreachable, 'failed'), { reason: 'unreachable' }, 'nobody listening');
  t.match(
    await statusOf(service, never, 'failed'),
    { reason: 'never-pull', message: /pull policy is Never/ },
    'Never and absent: not pulled',
  );
  t.match(
    await statusOf(service, 'Not A Reference', 'failed'),
    { reason: 'invalid-spec', message: /spec\.containers\[0\]\.image/ },
    'an invalid reference names the field',
  );
  await waitFor('the missing image to be retried', () => {
    const s = service.imageStatus(missing);
    return s.state === 'failed' && s.attempts >= 3;
  });
  t.pass('retried with back-off');

  // The image appears in the registry: the next retry succeeds.
  await pushImage(missing, [{ 'late.txt': 'late\n' }]);
  await statusOf(service, missing, 'present');
  t.pass('a later retry pulls it');

  // The pods go: failures are forgotten.
  snapshot(desired);
  await waitFor('failed images to be forgotten', () => service.imageStatus(unreachable).state === 'absent');
  t.equal(service.imageStatus(never).state, 'absent');
});

t.test('pull policies: IfNotPresent uses the local image, Always pulls again', async (t) => {
  const name = `${registry.host}/team/policy:v1`;
  await pushImage(name, [{ 'v.txt': 'one\n' }]);
  const desired = new DesiredSet();
  const { service } = startService(t, desired);
  snapshot(desired, pod('a', [{ image: name }]));
  const first = await statusOf(service, name, 'present');

  // The tag moves in the registry; an IfNotPresent pod keeps the local image.
  await pushImage(name, [{ 'v.txt': 'two\n' }]);
  snapshot(
    desired,
    pod('a', [{ image: name }]),
    pod('b', [{ image: name, imagePullPolicy: 'IfNotPresent' }]),
  );
  const ifNotPresent = await statusOf(service, name, 'present');
  t.strictSame(ifNotPresent, first, 'IfNotPresent: the same local image');

  // A new pod asking Always pulls the moved tag.
  snapshot(
    desired,
    pod('a', [{ image: name }]),
    pod('b', [{ image: name, imagePullPolicy: 'IfNotPresent' }]),
    pod('c', [{ image: name, imagePullPolicy: 'Always' }]),
  );
  const moved = await waitFor('the moved tag to be pulled', () => {
    const s = service.imageStatus(name);
    return s.state === 'present' && first.state === 'present' && s.digest !== first.digest ? s : undefined;
  });
  const top =
    moved.state === 'present' ? await service.stores.snapshots.stat(moved.chainIds.at(-1)!) : undefined;
  t.equal(readFileSync(join(top!.path, 'v.txt'), 'utf8'), 'two\n', 'Always: the moved tag, unpacked');

  // Never with the image present is fine.
  const never = pod('d', [{ image: name, imagePullPolicy: 'Never' }]);
  snapshot(desired, never);
  t.equal((await statusOf(service, name, 'present')).state, 'present', 'Never and present: used');
});

t.test('htpasswd over TLS: anonymous pull unauthorized, the auth file credentials work', async (t) => {
  const secured = await startRegistry(dir, {
    name: 'secured',
    tls: true,
    users: [{ username: 'alice', password: 's3cret' }],
  });
  cleanups.push(() => secured.stop());
  const hosts = { [secured.host]: { ca: secured.caPem! } };
  const name = `${secured.host}/team/private:v1`;
  await pushImage(name, [{ 'secret.txt': 'shh\n' }], hosts, { username: 'alice', password: 's3cret' });

  const anonymous = new DesiredSet();
  const { service: anon } = startService(t, anonymous, { registryHosts: hosts });
  snapshot(anonymous, pod('private', [{ image: name }]));
  t.match(await statusOf(anon, name, 'failed'), { reason: 'unauthorized' }, 'no credentials: unauthorized');

  const authFile = join(dir, 'auth.json');
  writeFileSync(
    authFile,
    JSON.stringify({ auths: { [secured.host]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }),
  );
  const desired = new DesiredSet();
  const { service } = startService(t, desired, { registryHosts: hosts, registryAuthFile: authFile });
  snapshot(desired, pod('private', [{ image: name }]));
  await statusOf(service, name, 'present');
  t.pass('pulled with the credentials of the auth file');
});

t.test(
  'after a pull, disk use above the high threshold removes the least recently used unwanted image',
  async (t) => {
    const [old, older, current] = ['old', 'older', 'current'].map((n) => `${registry.host}/gc/${n}:v1`) as [
      string,
      string,
      string,
    ];
    for (const name of [older, old, current])
      await pushImage(name, [{ [`${name.split('/')[2]}.txt`]: name }]);
    const desired = new DesiredSet();
    // A 1000-byte disk, 90 % full: 100 bytes to free, less than one image holds, so GC
    // removes exactly one image, the least recently used.
    let full = false;
    const { service } = startService(t, desired, {
      gc: { intervalMs: 3_600_000, highPercent: 85, lowPercent: 80 },
      readUsage: async () => ({ capacityBytes: 1000, availableBytes: full ? 100 : 900 }),
    });
    const removed: string[][] = [];
    service.events.on('gc', (result) => removed.push(result.removedImages));

    snapshot(desired, pod('older', [{ image: older }]));
    await statusOf(service, older, 'present');
    snapshot(desired, pod('old', [{ image: old }]));
    await statusOf(service, old, 'present');
    t.ok(await service.stores.images.get(older), 'below the threshold: an unwanted image stays');

    full = true;
    snapshot(desired, pod('current', [{ image: current }]));
    await statusOf(service, current, 'present');
    await waitFor('GC after the pull', () => removed.length > 0);
    t.strictSame(removed[0], [older], 'the least recently used, and only as many as needed');
    t.equal(await service.stores.images.get(older), undefined, 'its name is gone');
    t.ok(await service.stores.images.get(old), 'the more recently used one stays');
    t.ok(await service.stores.images.get(current), 'the image in use is kept');
    t.equal(service.imageStatus(current).state, 'present');
  },
);
