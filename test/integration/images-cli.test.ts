// The image commands of the CLI against a real docker-registry on 127.0.0.1: build an
// example on the busybox base, list, tag, push, read it back with skopeo, pull it into a
// clean image root, prune; and login against a registry that requires it.
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  busyboxImageConfig,
  busyboxRootfs,
  commitBaseImage,
  openLocalImages,
  parseReference,
} from '@flotilla/images';
import {
  deployMain,
  makeRunDir,
  repoRoot,
  runCommand,
  startRegistry,
  type RegistryServer,
} from '../lib/index.js';

const home = makeRunDir('images-cli');
const imageRoot = join(home, 'images');
const registries: RegistryServer[] = [];
t.teardown(async () => {
  for (const registry of registries) await registry.stop();
  if (!process.env.FLOTILLA_KEEP_TEST_DIRS) rmSync(home, { recursive: true, force: true });
});

const env = (root = imageRoot): NodeJS.ProcessEnv => ({
  HOME: home,
  FLOTILLA_IMAGE_ROOT: root,
  FLOTILLA_CONFIG: '',
  FLOTILLA_AUTH_FILE: '',
});

function deploy(
  args: string[],
  options: { root?: string; input?: string } = {},
): ReturnType<typeof runCommand> {
  return runCommand(process.execPath, [deployMain, ...args], {
    env: env(options.root),
    timeoutMs: 120_000,
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
}

const show = (r: { stdout: string; stderr: string }): string => `\n${r.stdout}\n${r.stderr}`;

/** The busybox base, committed into the image root as `deploy up` does. */
async function commitBusybox(root: string): Promise<void> {
  const local = openLocalImages(root);
  const dir = await mkdtemp(join(home, 'busybox-'));
  try {
    await busyboxRootfs(join(dir, 'rootfs'));
    await commitBaseImage(
      local,
      parseReference('busybox').canonical,
      join(dir, 'rootfs'),
      busyboxImageConfig(),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function blobFiles(root: string): string[] {
  const dir = join(root, 'content', 'blobs', 'sha256');
  return existsSync(dir) ? readdirSync(dir) : [];
}

t.test('build, list, push, skopeo, rmi, pull into a clean store, prune', async (t) => {
  const registry = await startRegistry(home);
  registries.push(registry);
  await commitBusybox(imageRoot);
  const hello = join(repoRoot, 'examples', 'hello');

  const build = await deploy(['build', '-t', 'hello', hello]);
  t.equal(build.code, 0, `build succeeds${show(build)}`);
  t.match(build.stdout, /Step 1\/3 : FROM busybox/);
  const built = /Successfully built (\S+)\n/.exec(build.stdout)?.[1];
  t.ok(built, 'says it built the image');
  t.match(build.stdout, /Successfully tagged hello:latest\n/);
  const inspected = await deploy(['image', 'inspect', 'hello']);
  const [helloRecord] = JSON.parse(inspected.stdout) as { Id: string; Digest: string }[];
  const id = helloRecord?.Id.slice('sha256:'.length, 'sha256:'.length + 12) ?? 'none';
  t.equal(built, id, 'build prints the image ID that images and inspect show');

  const rebuild = await deploy(['build', '-t', 'hello', hello]);
  t.equal(rebuild.code, 0, `rebuild succeeds${show(rebuild)}`);
  t.match(rebuild.stdout, /Using cache/, 'the rebuild uses the cache');
  t.match(rebuild.stdout, `Successfully built ${built}`, 'and yields the same image');

  const images = await deploy(['images']);
  t.equal(images.code, 0, `images succeeds${show(images)}`);
  t.match(images.stdout, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\n/);
  t.match(
    images.stdout,
    new RegExp(`\\nhello\\s+latest\\s+${id}\\s+\\S.*\\s+[\\d.]+[kM]?B\\n`),
    'lists hello',
  );
  t.match(images.stdout, /\nbusybox\s+latest\s+[a-f0-9]{12}\s/, 'and the base');
  const quiet = await deploy(['images', '-q', 'hello']);
  t.equal(quiet.stdout, `${id}\n`, 'images -q with a filter prints only the ID');

  const remote = `${registry.host}/examples/hello:v1`;
  const tag = await deploy(['tag', 'hello', remote]);
  t.equal(tag.code, 0, `tag succeeds${show(tag)}`);

  const push = await deploy(['push', remote]);
  t.equal(push.code, 0, `push succeeds${show(push)}`);
  t.match(push.stdout, `The push refers to repository [${registry.host}/examples/hello]`);
  t.match(push.stdout, /[a-f0-9]{12}: Pushed\n/);
  const pushed = /v1: digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(push.stdout)?.[1];
  t.ok(pushed, 'push prints the manifest digest');
  const pushAgain = await deploy(['push', remote]);
  t.match(pushAgain.stdout, /Layer already exists/, 'a second push finds every layer there');

  const inspect = await runCommand('skopeo', ['inspect', '--tls-verify=false', `docker://${remote}`]);
  t.equal(inspect.code, 0, `skopeo inspect reads it${show(inspect)}`);
  const seen = JSON.parse(inspect.stdout) as { Digest: string; Layers: string[] };
  t.equal(seen.Digest, pushed, 'skopeo sees the manifest digest push printed');
  const config = await runCommand('skopeo', [
    'inspect',
    '--config',
    '--tls-verify=false',
    `docker://${remote}`,
  ]);
  const seenConfig = JSON.parse(config.stdout) as { config?: { Cmd?: string[] } };
  t.same(seenConfig.config?.Cmd, ['cat', '/hello.txt'], 'and the config with the Dockerfile CMD');

  const rmi = await deploy(['rmi', remote]);
  t.equal(rmi.code, 0, `rmi succeeds${show(rmi)}`);
  t.match(rmi.stdout, `Untagged: ${remote}`);
  t.notMatch((await deploy(['images'])).stdout, 'examples/hello', 'the name is gone');
  const missing = await deploy(['rmi', remote]);
  t.equal(missing.code, 1, 'removing it again fails');
  t.match(missing.stderr, `no such image: ${remote}`);
  t.equal((await deploy(['rmi', '-f', remote])).code, 0, 'unless -f');

  const clean = join(home, 'clean');
  const pull = await deploy(['pull', remote], { root: clean });
  t.equal(pull.code, 0, `pull into a clean store succeeds${show(pull)}`);
  t.match(pull.stdout, `v1: Pulling from ${registry.host}/examples/hello`);
  t.match(pull.stdout, /[a-f0-9]{12}: Pull complete\n/);
  t.match(pull.stdout, `Digest: ${pushed}`);
  t.match(pull.stdout, `Status: Downloaded newer image for ${remote}`);
  const pullAgain = await deploy(['pull', remote], { root: clean });
  t.match(pullAgain.stdout, /: Already exists\n/);
  t.match(pullAgain.stdout, `Status: Image is up to date for ${remote}`);
  const pulled = await deploy(['image', 'inspect', remote], { root: clean });
  t.equal(pulled.code, 0, `image inspect succeeds${show(pulled)}`);
  const [record] = JSON.parse(pulled.stdout) as { Digest: string; Id: string }[];
  t.equal(record?.Digest, pushed, 'the pulled image has the pushed digest');
  t.equal(record?.Id.slice(7, 19), id, 'and the same image ID');

  const notTty = await deploy(['prune', '-a'], { root: clean });
  t.equal(notTty.code, 2, 'prune without -f and without a terminal is a usage error');
  t.ok(blobFiles(clean).length > 0, 'and removes nothing');
  const prune = await deploy(['prune', '-a', '-f'], { root: clean });
  t.equal(prune.code, 0, `prune -a -f succeeds${show(prune)}`);
  t.match(prune.stdout, `Untagged: ${remote}`);
  t.match(prune.stdout, /Total reclaimed space: [\d.]+[kM]?B/);
  t.equal((await deploy(['images', '-q'], { root: clean })).stdout, '', 'no image is left');
  t.same(blobFiles(clean), [], 'no blob is left');

  const dangling = await deploy(['prune', '-f']);
  t.equal(dangling.code, 0, `prune of the build store succeeds${show(dangling)}`);
  t.match((await deploy(['images', '-q', 'hello'])).stdout, id, 'prune without -a keeps tagged images');
  const rebuiltAfterPrune = await deploy(['build', '-t', 'hello', hello]);
  t.match(rebuiltAfterPrune.stdout, /Using cache/, 'and their build cache');
});

t.test('a Dockerfile error names its line and exits 1', async (t) => {
  const context = join(home, 'bad-context');
  mkdirSync(context, { recursive: true });
  writeFileSync(join(context, 'Dockerfile'), 'FROM busybox\nCOPY missing.txt /x\n');
  const result = await deploy(['build', '-t', 'bad', context]);
  t.equal(result.code, 1, `the build fails${show(result)}`);
  t.match(result.stderr, /Dockerfile:2: /, 'naming line 2');
  const noContext = await deploy(['build', '-t', 'bad', join(home, 'nope')]);
  t.equal(noContext.code, 1);
  t.match(noContext.stderr, /build context .*nope is not a directory/);
});

t.test(
  'login against a TLS registry with htpasswd: anonymous push refused, logged-in push accepted',
  async (t) => {
    const registry = await startRegistry(home, {
      name: 'auth-registry',
      tls: true,
      users: [{ username: 'ci', password: 'hunter2' }],
    });
    registries.push(registry);
    const untrusted = await deploy(['pull', `${registry.host}/team/hello:v1`]);
    t.equal(untrusted.code, 1, 'without its CA, a loopback registry is spoken to in plain HTTP');
    t.match(untrusted.stderr, /HTTP request to an HTTPS server/);
    // Docker's certs.d layout: the CA the registry's certificate is checked against.
    const certs = join(home, '.flotilla', 'certs.d', registry.host);
    mkdirSync(certs, { recursive: true });
    writeFileSync(join(certs, 'ca.crt'), registry.caPem ?? '');
    const remote = `${registry.host}/team/hello:v1`;
    t.equal((await deploy(['tag', 'hello', remote])).code, 0);

    const anonymous = await deploy(['push', remote]);
    t.equal(anonymous.code, 1, 'an anonymous push fails');
    t.match(anonymous.stderr, `deploy login ${registry.host}`, 'and says how to log in');

    const wrong = await deploy(['login', '-u', 'ci', '--password-stdin', registry.host], {
      input: 'wrong\n',
    });
    t.equal(wrong.code, 1, 'a wrong password is refused');
    t.match(wrong.stderr, /incorrect username or password/);
    const authFile = join(home, '.flotilla', 'auth.json');
    t.notOk(existsSync(authFile), 'and nothing is saved');

    const login = await deploy(['login', '-u', 'ci', '--password-stdin', registry.host], {
      input: 'hunter2\n',
    });
    t.equal(login.code, 0, `login succeeds${show(login)}`);
    t.match(login.stdout, /Login Succeeded/);
    t.equal(statSync(authFile).mode & 0o777, 0o600, 'the credentials file is private');

    const push = await deploy(['push', remote]);
    t.equal(push.code, 0, `the logged-in push succeeds${show(push)}`);
    const pull = await deploy(['pull', remote], { root: join(home, 'auth-clean') });
    t.equal(pull.code, 0, `and so does a pull${show(pull)}`);

    const logout = await deploy(['logout', registry.host]);
    t.equal(logout.code, 0);
    t.match(logout.stdout, `Removing login credentials for ${registry.host}`);
    const after = await deploy(['pull', remote], { root: join(home, 'auth-clean2') });
    t.equal(after.code, 1, 'after logout a pull is refused again');
  },
);
