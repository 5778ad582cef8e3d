// Mounting and unmounting for the agent (rootfs overlays, emptyDir tmpfs): the same
// results as @flotilla/images' mountAt/unmount, which run mount(8)/umount(8) from the
// calling process. Here a container's overlay rootfs is one mount(2) made by the spawn
// server (mount(8) would be one more process making exactly that call), anything else
// mount(8) run through the server, and neither forks the agent's own process.
import { FlotillaError, errorMessage } from '@flotilla/common';
import { mountAt as imagesMountAt, unmount as imagesUnmount, type MountSpec } from '@flotilla/images';
import { CommandError, agentSpawnServer, runAgentCommand } from './spawn-server.js';

const MNT_DETACH = 2;

/** overlayfs options that are file-system data, never mount(8) flag words. */
const overlayDataOption = /^(lowerdir|upperdir|workdir|redirect_dir|index|metacopy|xino)=[^,]*$/;

/**
 * The mount(2) call for spec when it is one plain call (an overlay whose options are all
 * overlayfs data); undefined when mount(8) must translate it (flag words, bind + remount).
 */
export function mountSyscall(
  spec: MountSpec,
  target: string,
): { source: string; target: string; fstype: string; flags: number; data: string } | undefined {
  if (spec.type !== 'overlay' || spec.options.length === 0) return undefined;
  if (!spec.options.every((o) => overlayDataOption.test(o))) return undefined;
  return { source: spec.source, target, fstype: 'overlay', flags: 0, data: spec.options.join(',') };
}

function mountFailed(spec: MountSpec, target: string, why: string, value: unknown): FlotillaError {
  return new FlotillaError('Internal', `mounting the ${spec.type} rootfs at ${target} failed: ${why}`, {
    object: `mount/${target}`,
    value,
  });
}

export async function mountAt(spec: MountSpec, target: string): Promise<void> {
  const server = agentSpawnServer();
  const call = mountSyscall(spec, target);
  if (server !== undefined && call !== undefined) {
    try {
      await server.op({ op: 'mount', ...call });
      return;
    } catch (err) {
      throw mountFailed(spec, target, errorMessage(err), call);
    }
  }
  // mount(8) through the server (or from here without it), as @flotilla/images does it;
  // a command that cannot run at all fails the mount with its reason.
  await imagesMountAt(spec, target, (command, args) =>
    runAgentCommand(command, args).catch((err: unknown) => ({ code: null, stderr: errorMessage(err) })),
  );
}

const notMounted = (err: unknown): boolean =>
  err instanceof CommandError && (err.code === 'EINVAL' || err.code === 'ENOENT');

/** Unmounts target; a busy mount is detached lazily so nothing stays in the table. */
export async function unmount(target: string): Promise<void> {
  const server = agentSpawnServer();
  if (server !== undefined) {
    let first: unknown;
    try {
      await server.op({ op: 'umount', target, flags: 0 });
      return;
    } catch (err) {
      // EINVAL: not a mount point; ENOENT: no such path. Either way nothing is mounted there.
      if (notMounted(err)) return;
      first = err;
    }
    try {
      await server.op({ op: 'umount', target, flags: MNT_DETACH });
    } catch (err) {
      if (notMounted(err)) return;
      throw new FlotillaError('Internal', `unmounting ${target} failed: ${errorMessage(first)}`, {
        object: `mount/${target}`,
      });
    }
    return;
  }
  await imagesUnmount(target, runAgentCommand);
}
