// podman confined to a scratch directory: its own storage (--root/--runroot, overlay
// driver), containers.conf (runtime runc, the nofile/nproc ulimits this host allows, no
// journald events), registries.conf marking the bench registry insecure and storage.conf,
// all passed by environment, so nothing under /etc/containers or /var/lib/containers is
// read for settings or written. Removing the scratch directory (after unmounting what
// podman mounted below it) removes every trace.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mountsUnder, unmount } from '@flotilla/images';
import { runCommand } from '../lib/index.js';

export interface PodmanSandbox {
  /** Runs podman with storage in <dir>/<storage>/ (a fresh one is an empty store). */
  run(storage: string, args: string[]): Promise<string>;
  /** Unmounts what podman left mounted under that storage and removes it. */
  wipe(storage: string): Promise<void>;
}

const toml = (s: string): string => JSON.stringify(s);

export async function podmanSandbox(dir: string, insecureRegistry: string): Promise<PodmanSandbox> {
  await mkdir(join(dir, 'tmp'), { recursive: true });
  await mkdir(join(dir, 'networks'), { recursive: true });
  const containersConf = join(dir, 'containers.conf');
  const registriesConf = join(dir, 'registries.conf');
  const storageConf = join(dir, 'storage.conf');
  await writeFile(
    containersConf,
    [
      '[containers]',
      'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      '[engine]',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "none"',
      `image_copy_tmp_dir = ${toml(join(dir, 'tmp'))}`,
      `tmp_dir = ${toml(join(dir, 'tmp', 'libpod'))}`,
      '[network]',
      `network_config_dir = ${toml(join(dir, 'networks'))}`,
      '',
    ].join('\n'),
  );
  await writeFile(
    registriesConf,
    [
      'unqualified-search-registries = []',
      '[[registry]]',
      `location = ${toml(insecureRegistry)}`,
      'insecure = true',
      '',
    ].join('\n'),
  );
  await writeFile(
    storageConf,
    [
      '[storage]',
      'driver = "overlay"',
      `graphroot = ${toml(join(dir, 'default', 'root'))}`,
      `runroot = ${toml(join(dir, 'default', 'runroot'))}`,
      '',
    ].join('\n'),
  );
  const env: NodeJS.ProcessEnv = {
    CONTAINERS_CONF: containersConf,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    CONTAINERS_STORAGE_CONF: storageConf,
    TMPDIR: join(dir, 'tmp'),
  };
  return {
    async run(storage, args) {
      const base = join(dir, storage);
      const full = [
        '--root',
        join(base, 'root'),
        '--runroot',
        join(base, 'runroot'),
        '--storage-driver',
        'overlay',
        '--tmpdir',
        join(dir, 'tmp', 'libpod'),
        ...args,
      ];
      const out = await runCommand('podman', full, { env, timeoutMs: 300_000 });
      if (out.code !== 0) {
        throw new Error(
          `podman ${args.join(' ')} exited with ${out.code}: ${out.stderr.trim().slice(-2000)}`,
        );
      }
      return out.stdout;
    },
    async wipe(storage) {
      const base = join(dir, storage);
      for (const point of await mountsUnder(base)) await unmount(point);
      await rm(base, { recursive: true, force: true });
    },
  };
}
