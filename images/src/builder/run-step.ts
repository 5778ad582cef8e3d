// RUN executed: an overlay of the current chain with a fresh upper dir mounted in the
// workspace, the command run in a runc container over it, and the upper dir — exactly what
// the command changed, deletions as whiteouts — written as the step's layer. The
// container, the mount and the scratch directories go away whatever happens.
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { FlotillaError, errorMessage, type Logger } from '@flotilla/common';
import { dockerfileError } from '../build/errors.js';
import type { RunStep } from '../build/types.js';
import { diffLayer } from '../layers/layer.js';
import type { LayerWriteResult } from '../layers/tar-writer.js';
import type { LocalImages } from '../local/local-images.js';
import { ociConfigForBuild, resolveUser } from '../runc/oci-config.js';
import { runContainer, type RuncOptions } from '../runc/runner.js';
import { rootfsMount } from '../snapshots/mounts.js';
import type { HostLimits } from '../runc/types.js';
import type { MountSpec, SnapshotInfo } from '../types.js';
import { storeLayerFile } from './layer-store.js';
import { accountFiles, resolveInRoot } from './rootfs-view.js';
import type { BuildWorkspace } from './workspace.js';

export interface RunStepInput {
  local: LocalImages;
  ws: BuildWorkspace;
  step: RunStep;
  chain: readonly SnapshotInfo[];
  runc: RuncOptions;
  /** cgroupfs parent of build containers ("flotilla-build"). */
  cgroupParent: string;
  hostLimits: HostLimits;
  /** Container ID, unique in the runc root; starts with "build-<pid>-" so leftovers are found. */
  containerId: string;
  output: (text: string) => void;
  file: string;
  log: Logger;
  signal?: AbortSignal;
}

/** Where runc mounts file systems; created in the rootfs when missing, then removed again. */
const mountPoints = ['/proc', '/sys', '/dev'];

/**
 * The writable rootfs mount: overlayfs with metacopy off as well as redirect_dir (the
 * snapshotter's choice), so the upper dir alone is the diff even where a kernel defaults
 * metacopy on.
 */
export function writableRootfs(chain: readonly SnapshotInfo[], upper: string, work: string): MountSpec {
  const spec = rootfsMount(chain, upper, work);
  return spec.type === 'overlay' ? { ...spec, options: [...spec.options, 'metacopy=off'] } : spec;
}

/** Runs the step; returns its layer, or undefined when the command changed nothing. */
export async function runRunStep(input: RunStepInput): Promise<LayerWriteResult | undefined> {
  const { step, ws } = input;
  const dir = await ws.tempDir('run');
  const upper = join(dir, 'upper');
  const work = join(dir, 'work');
  const rootfs = join(dir, 'rootfs');
  const bundle = join(dir, 'bundle');
  let mounted = false;
  try {
    await Promise.all([upper, work, rootfs, bundle].map((d) => mkdir(d, { mode: 0o755 })));
    await ws.mount(writableRootfs(input.chain, upper, work), rootfs);
    mounted = true;
    const stubs: string[] = [];
    try {
      let user;
      try {
        user = resolveUser(step.user, await accountFiles(rootfs));
      } catch (err) {
        throw dockerfileError(
          input.file,
          step.line,
          `RUN as USER ${step.user}: ${errorMessage(err)}`,
          step.user,
          err,
        );
      }
      const cwd = await resolveInRoot(rootfs, step.workdir);
      if (cwd.kind === 'missing') await mkdir(join(rootfs, ...cwd.parts), { recursive: true, mode: 0o755 });
      else if (cwd.kind !== 'dir') {
        throw dockerfileError(
          input.file,
          step.line,
          `RUN: the working directory ${step.workdir} is not a directory`,
          step.workdir,
        );
      }
      for (const point of mountPoints) {
        if ((await resolveInRoot(rootfs, point, false)).kind === 'missing') stubs.push(point);
      }
      const spec = ociConfigForBuild({
        args: step.argv,
        env: step.env,
        cwd: step.workdir,
        user,
        rootfs,
        cgroupsPath: `/${input.cgroupParent}/${input.containerId}`,
        hostLimits: input.hostLimits,
      });
      input.output(` ---> Running in ${input.containerId}\n`);
      const decoder = new StringDecoder('utf8');
      let last = '\n';
      const exit = await runContainer({
        ...input.runc,
        bundle,
        id: input.containerId,
        spec,
        output: (chunk) => {
          const text = decoder.write(chunk);
          if (text === '') return;
          last = text;
          input.output(text);
        },
        ...(input.signal ? { signal: input.signal } : {}),
      });
      const rest = decoder.end();
      if (rest !== '') input.output((last = rest));
      if (!last.endsWith('\n')) input.output('\n');
      if (exit.exitCode !== 0) {
        throw new FlotillaError(
          'FailedPrecondition',
          `${input.file}:${step.line}: RUN exited with code ${exit.exitCode}`,
          { object: `dockerfile/${input.file}`, field: `line ${step.line}`, value: step.argv },
        );
      }
    } finally {
      await ws.unmount(rootfs);
      mounted = false;
    }
    // The mount points runc had to create are not the command's doing.
    for (const point of stubs) await rmdir(join(upper, point)).catch(() => undefined);
    if ((await readdir(upper)).length === 0) return undefined;
    return await storeLayerFile(input.local, dir, (file) => diffLayer(upper, createWriteStream(file)));
  } finally {
    // Still mounted only when unmounting failed: removing would reach through the mount;
    // the workspace's dispose() tries again.
    if (!mounted)
      await rm(dir, { recursive: true, force: true }).catch((err: unknown) =>
        input.log.warn('could not remove a RUN scratch directory', { dir, err: errorMessage(err) }),
      );
  }
}
