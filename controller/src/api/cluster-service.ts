// Cluster: the CLI-facing API. Every call needs an admin certificate.
import type { ClusterServer, ComponentStatus, Node } from '@flotilla/proto';
import {
  caCertHash,
  errorMessage,
  invalidArgument,
  notFound,
  validateDnsSubdomain,
  type Logger,
} from '@flotilla/common';
import { nodeCodec } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/types.js';
import { matchesLabels, parseLabelSelector } from '../labels/labels.js';
import { isNodeReady } from '../nodes/conditions.js';
import { tokenTtlMs, toJoinTokenMessage } from '../tokens/join-token.js';
import type { JoinTokenStore } from '../tokens/token-store.js';
import { requireAdmin } from './auth.js';
import { unary } from './handlers.js';

export interface ComponentProbes {
  etcd: { endpoint: string; ping(): Promise<string> };
  nats: { endpoint: string; state(): { connected: boolean; server: string; lastError: string } };
  controller: { endpoint: string; version: string };
  /** Who leads the controllers (its identity, the API address), undefined when nobody does. */
  leader?: { self: string; current(): Promise<string | undefined> };
}

export interface ClusterDeps {
  store: Store;
  tokens: JoinTokenStore;
  caPem: string;
  probes: ComponentProbes;
  log: Logger;
}

function byName(a: Node, b: Node): number {
  const x = a.metadata?.name ?? '';
  const y = b.metadata?.name ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms}ms`)), ms);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The Cluster methods about nodes, tokens and health; pod-service.ts serves the rest. */
export type NodeMethods =
  'listNodes' | 'getNode' | 'createJoinToken' | 'listJoinTokens' | 'revokeJoinToken' | 'getClusterStatus';

export function createClusterService(deps: ClusterDeps): Pick<ClusterServer, NodeMethods> {
  const { store, tokens, caPem, probes, log } = deps;
  const admin = (call: Parameters<typeof requireAdmin>[0], method: string): void => {
    requireAdmin(call, caPem, `Cluster.${method}`);
  };

  return {
    listNodes: unary('Cluster.ListNodes', log, async (req, call) => {
      admin(call, 'ListNodes');
      const selector = parseLabelSelector(req.labelSelector);
      const { entries, revision } = await store.list(nodeCodec, keys.nodes);
      const items = entries.map((e) => e.value).filter((n) => matchesLabels(selector, n.metadata?.labels));
      return { resourceVersion: String(revision), items: items.sort(byName) };
    }),

    getNode: unary('Cluster.GetNode', log, async (req, call) => {
      admin(call, 'GetNode');
      const why = validateDnsSubdomain(req.name);
      if (why) throw invalidArgument(`node name "${req.name}" ${why}`, { field: 'name', value: req.name });
      const entry = await store.get(nodeCodec, keys.node(req.name));
      if (!entry) throw notFound(`node "${req.name}" not found`, { object: `node/${req.name}` });
      return entry.value;
    }),

    createJoinToken: unary('Cluster.CreateJoinToken', log, async (req, call) => {
      admin(call, 'CreateJoinToken');
      const ttl = tokenTtlMs(req.ttlSeconds);
      if (req.description.length > 256) {
        throw invalidArgument(
          `description is ${req.description.length} characters long; at most 256 are allowed`,
          {
            field: 'description',
          },
        );
      }
      const { record, token } = await tokens.create(ttl, req.description);
      log.info('join token created', { token: record.id, expiresAt: record.expiresAt });
      return { token: toJoinTokenMessage(record), secretToken: token, caCertHash: caCertHash(caPem) };
    }),

    listJoinTokens: unary('Cluster.ListJoinTokens', log, async (_req, call) => {
      admin(call, 'ListJoinTokens');
      return { tokens: (await tokens.list()).map(toJoinTokenMessage) };
    }),

    revokeJoinToken: unary('Cluster.RevokeJoinToken', log, async (req, call) => {
      admin(call, 'RevokeJoinToken');
      if (!/^[a-z0-9]{6}$/.test(req.id)) {
        throw invalidArgument(
          `join token id "${req.id}" must be 6 characters of a-z and 0-9 (the part before the ".")`,
          {
            field: 'id',
            value: req.id,
          },
        );
      }
      const record = await tokens.revoke(req.id);
      log.info('join token revoked', { token: record.id });
      return toJoinTokenMessage(record);
    }),

    getClusterStatus: unary('Cluster.GetClusterStatus', log, async (_req, call) => {
      admin(call, 'GetClusterStatus');
      const components: ComponentStatus[] = [];
      let nodesTotal = 0;
      let nodesReady = 0;
      try {
        const answer = await withTimeout(probes.etcd.ping(), 3_000, 'etcd');
        components.push({ name: 'etcd', healthy: true, message: answer, endpoint: probes.etcd.endpoint });
        const { entries } = await store.list(nodeCodec, keys.nodes);
        nodesTotal = entries.length;
        nodesReady = entries.filter((e) => isNodeReady(e.value)).length;
      } catch (err) {
        components.push({
          name: 'etcd',
          healthy: false,
          message: errorMessage(err),
          endpoint: probes.etcd.endpoint,
        });
      }
      const nats = probes.nats.state();
      components.push({
        name: 'nats',
        healthy: nats.connected,
        message: nats.connected
          ? `connected to ${nats.server}`
          : `not connected${nats.lastError ? `: ${nats.lastError}` : ''}`,
        endpoint: probes.nats.endpoint,
      });
      components.push({
        name: 'controller',
        healthy: true,
        message: `version ${probes.controller.version}`,
        endpoint: probes.controller.endpoint,
      });
      if (probes.leader) {
        const self = probes.leader.self;
        const leader = await withTimeout(probes.leader.current(), 3_000, 'the election').catch(
          (err: unknown) => new Error(errorMessage(err)),
        );
        components.push({
          name: 'leader',
          healthy: typeof leader === 'string',
          message:
            leader instanceof Error
              ? `unknown: ${leader.message}`
              : leader === undefined
                ? 'no controller leads (an election is under way)'
                : leader === self
                  ? 'this controller leads'
                  : `led by ${leader}`,
          endpoint: typeof leader === 'string' ? leader : '',
        });
      }
      return { components, nodesTotal, nodesReady, controllerVersion: probes.controller.version };
    }),
  };
}
