// Finds the programs a local cluster runs: Debian's etcd, nats-server and docker-registry
// on the PATH, and the controller and agent of this checkout, found relative to this
// package rather than the working directory.
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Executables } from './plan.js';

/** deploy/dist/local -> the repository root. */
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export const controllerMainPath = join(repoRoot, 'controller', 'dist', 'main.js');
// The agent as users run it: its bin, which runs its bundle while fresh (scripts/bundle-agent.mjs).
export const agentMainPath = join(repoRoot, 'agent', 'bin', 'flotilla-agent.js');
/** What the agent's bin imports: missing until the agent is built. */
const agentBuiltPath = join(repoRoot, 'agent', 'dist', 'main.js');
// '../local/' rather than './': the same file from dist/local/ and from the CLI's bundle in dist/bundle/.
export const supervisorPath = fileURLToPath(new URL('../local/supervisor.js', import.meta.url));

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function readable(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Looks in PATH, then the sbin directories Debian puts nats-server in. */
export async function which(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const dirs = [
    ...(env.PATH ?? '').split(delimiter),
    '/usr/local/sbin',
    '/usr/sbin',
    '/sbin',
    '/usr/bin',
    '/bin',
  ];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (await executable(candidate)) return candidate;
  }
  return undefined;
}

export interface MissingProgram {
  name: string;
  fix: string;
}

export async function findExecutables(
  env: NodeJS.ProcessEnv,
): Promise<{ exe: Executables; missing: MissingProgram[] }> {
  const missing: MissingProgram[] = [];
  const setup = 'run scripts/setup.sh, which installs it';
  const find = async (name: string, pkg: string): Promise<string> => {
    const path = await which(name, env);
    if (!path) missing.push({ name, fix: `${setup} (Debian package ${pkg})` });
    return path ?? name;
  };
  const etcd = await find('etcd', 'etcd-server');
  const natsServer = await find('nats-server', 'nats-server');
  const registry = await find('docker-registry', 'docker-registry');
  for (const [name, path] of [
    ['controller', controllerMainPath],
    ['agent', agentBuiltPath],
  ] as const) {
    if (!(await readable(path)))
      missing.push({ name: path, fix: `the ${name} is not built; run "npm run build"` });
  }
  return {
    exe: {
      node: process.execPath,
      etcd,
      natsServer,
      registry,
      controllerMain: controllerMainPath,
      agentMain: agentMainPath,
    },
    missing,
  };
}
