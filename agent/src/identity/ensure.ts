// Load the node's identity, or join to get one. After the first join the agent needs
// no token: its certificate is its identity from then on.
import { type Logger, caCertHash, failedPrecondition } from '@flotilla/common';
import { hostname } from 'node:os';
import type { AgentOptions } from '../options/types.js';
import { UsageError } from '../options/usage-error.js';
import { nodeNameFromHostname } from '../node/names.js';
import { joinCluster, type JoinTrust } from './join.js';
import { readIdentity, writeIdentity, writeNodeRecord } from './state-store.js';
import { loadCaFile } from './trust.js';
import type { NodeIdentity } from './types.js';

export type IdentityOptions = Pick<
  AgentOptions,
  'stateDir' | 'join' | 'token' | 'caFile' | 'caCertHash' | 'nodeName'
>;

async function joinTrust(options: IdentityOptions): Promise<JoinTrust> {
  if (options.caFile) {
    const caPem = await loadCaFile(options.caFile);
    if (options.caCertHash && caCertHash(caPem) !== options.caCertHash) {
      throw new UsageError(
        `--ca-file ${options.caFile} has hash ${caCertHash(caPem)}, not the --ca-cert-hash ${options.caCertHash} also given`,
        { field: '--ca-cert-hash', value: options.caCertHash },
      );
    }
    return { caPem };
  }
  if (options.caCertHash) return { caCertHash: options.caCertHash };
  throw new UsageError(
    'joining needs a way to trust the controller: pass --ca-file PATH (the cluster CA certificate) ' +
      'or --ca-cert-hash sha256:<hex> (as "deploy token create" prints it)',
    { field: '--ca-cert-hash' },
  );
}

export async function ensureIdentity(
  options: IdentityOptions,
  log: Logger,
  signal?: AbortSignal,
): Promise<NodeIdentity> {
  const stored = await readIdentity(options.stateDir);
  if (stored.state === 'complete') {
    const identity = stored.identity;
    if (options.nodeName && options.nodeName !== identity.nodeName) {
      throw failedPrecondition(
        `--node-name ${options.nodeName} differs from ${identity.nodeName}, the node ${options.stateDir} holds the identity of; ` +
          `drop --node-name, or remove ${options.stateDir} and join again with a new token`,
        { field: '--node-name', value: options.nodeName },
      );
    }
    if (options.token) log.info('already joined: --token is ignored', { node: identity.nodeName });
    if (options.join && options.join !== identity.controller) {
      log.info('controller address changed by --join', { from: identity.controller, to: options.join });
      identity.controller = options.join;
      await writeNodeRecord(options.stateDir, identity);
    }
    log.info('using the identity in the state directory', {
      node: identity.nodeName,
      stateDir: options.stateDir,
      joinedAt: identity.joinedAt,
    });
    return identity;
  }

  if (stored.state === 'partial') {
    log.warn('the state directory holds an unfinished join; joining again', {
      stateDir: options.stateDir,
      missing: stored.missing,
    });
  }
  if (!options.join) {
    throw new UsageError(
      `${options.stateDir} holds no node identity yet: pass --join HOST:PORT (the controller) and --token <id>.<secret> to join`,
      { field: '--join' },
    );
  }
  if (!options.token) {
    throw new UsageError(
      `${options.stateDir} holds no node identity yet: pass --token <id>.<secret> (from "deploy token create") to join`,
      { field: '--token' },
    );
  }
  const trust = await joinTrust(options);
  const nodeName = options.nodeName ?? nodeNameFromHostname(hostname());
  const identity = await joinCluster({
    controller: options.join,
    token: options.token,
    trust,
    nodeName,
    log,
    ...(signal ? { signal } : {}),
  });
  await writeIdentity(options.stateDir, identity);
  log.info('identity saved', { node: nodeName, stateDir: options.stateDir });
  return identity;
}
