// NodeGateway: what agents call. Join trades a join token and a CSR for the node's
// identity; RegisterNode and Assignments need that identity.
import type { NodeGatewayServer, RegisterNodeResponse } from '@flotilla/proto';
import {
  invalidArgument,
  isUserPublicKey,
  nodeCommonName,
  nodeOrganization,
  signCertificateRequest,
  signUserJwt,
  subjects,
  unavailable,
  validateDnsSubdomain,
  defaultClusterCidr,
  type KeyAndCert,
  type Logger,
  type NatsKeys,
} from '@flotilla/common';
import type { Store } from '../store/types.js';
import { registerWithPodCidr, validateRegistration } from '../nodes/registration.js';
import { defaultNodeCidrMaskSize, parsePodCidrConfig, type PodCidrConfig } from '../nodes/pod-cidr.js';
import type { LastSeen } from '../reconcile/node-liveness.js';
import type { JoinTokenStore } from '../tokens/token-store.js';
import { streamAssignments } from './assignments.js';
import type { PodWatchHub } from './pod-watch-hub.js';
import type { ClusterNetwork } from '../network/types.js';
import { requireNode } from './auth.js';
import { serverStream, unary, type StreamRegistry } from './handlers.js';

export const nodeCertificateDays = 365;

export interface NodeGatewayDeps {
  store: Store;
  tokens: JoinTokenStore;
  ca: KeyAndCert;
  natsKeys: NatsKeys;
  /** What agents are told to dial for NATS. */
  natsUrls: string[];
  lastSeen: LastSeen;
  streams: StreamRegistry;
  log: Logger;
  bookmarkIntervalMs?: number;
  now?: () => Date;
  /** One pod watch shared by the assignments streams (see pod-watch-hub.ts). */
  podWatch?: PodWatchHub;
  /** Where nodes' pod CIDRs come from (--cluster-cidr, --node-cidr-mask-size); default 10.244.0.0/16 in /24s. */
  podCidrs?: PodCidrConfig;
  /** Serves Network and AwaitEndpointsDrained; without it they answer Unavailable. */
  network?: ClusterNetwork;
}

const defaultPodCidrs = parsePodCidrConfig(defaultClusterCidr, defaultNodeCidrMaskSize);

/** A NATS user JWT for node: its own subjects and reply inboxes, nothing else. */
export function signNodeJwt(natsKeys: NatsKeys, node: string, userPublicKey: string, now: Date): string {
  const allow = [subjects.nodeAll(node), '_INBOX.>'];
  return signUserJwt(
    natsKeys,
    userPublicKey,
    nodeCommonName(node),
    { pub: { allow }, sub: { allow }, allowResponses: true },
    new Date(now.getTime() + nodeCertificateDays * 24 * 60 * 60 * 1000),
  );
}

function requireUserKey(key: string, field: string): string {
  if (!isUserPublicKey(key)) {
    throw invalidArgument(`${field} "${key}" is not a NATS user public key (an nkey starting with "U")`, {
      field,
      value: key,
    });
  }
  return key;
}

export function createNodeGatewayService(deps: NodeGatewayDeps): NodeGatewayServer {
  const { store, tokens, ca, natsKeys, natsUrls, lastSeen, streams, log } = deps;
  const now = deps.now ?? (() => new Date());
  const caPem = ca.certPem;

  return {
    join: unary('NodeGateway.Join', log, async (req) => {
      // The token first: an unauthenticated caller learns nothing about the rest.
      const token = await tokens.validate(req.token);
      const why = validateDnsSubdomain(req.nodeName);
      if (why)
        throw invalidArgument(`nodeName "${req.nodeName}" ${why}`, {
          field: 'nodeName',
          value: req.nodeName,
        });
      requireUserKey(req.natsUserPublicKey, 'natsUserPublicKey');
      if (req.csrPem.trim() === '')
        throw invalidArgument('csrPem is required: a PEM certificate signing request', { field: 'csrPem' });
      const certificatePem = await signCertificateRequest(ca, req.csrPem, {
        subject: { commonName: nodeCommonName(req.nodeName), organization: nodeOrganization },
        // Server too: the agent serves the Agent service (logs, exec, attach) with it.
        usage: 'both',
        validDays: nodeCertificateDays,
      });
      const natsUserJwt = signNodeJwt(natsKeys, req.nodeName, req.natsUserPublicKey, now());
      await tokens.recordUse(token.id, req.nodeName);
      log.info('node joined', { node: req.nodeName, token: token.id });
      return { certificatePem, caCertificatePem: caPem, natsUserJwt, natsUrls };
    }),

    registerNode: unary('NodeGateway.RegisterNode', log, async (req, call): Promise<RegisterNodeResponse> => {
      const incoming = validateRegistration(req.node);
      const name = incoming.metadata?.name ?? '';
      requireNode(call, caPem, 'NodeGateway.RegisterNode', name);
      if (req.natsUserPublicKey !== '') requireUserKey(req.natsUserPublicKey, 'natsUserPublicKey');
      const at = now();
      const stored = await registerWithPodCidr(store, deps.podCidrs ?? defaultPodCidrs, name, incoming, at);
      // The agent is alive now: its grace period starts here, not at its last heartbeat.
      lastSeen.observe(name, at.getTime());
      log.info('node registered', { node: name });
      return {
        node: stored,
        natsUserJwt: req.natsUserPublicKey ? signNodeJwt(natsKeys, name, req.natsUserPublicKey, at) : '',
        natsUrls,
      };
    }),

    assignments: serverStream('NodeGateway.Assignments', log, streams, async (req, call, send, signal) => {
      requireNode(call, caPem, 'NodeGateway.Assignments', req.nodeName);
      if (!Number.isInteger(req.resumeRevision) || req.resumeRevision < 0) {
        throw invalidArgument(
          `resumeRevision ${req.resumeRevision} must be 0 (a fresh snapshot) or a revision the stream sent`,
          {
            field: 'resumeRevision',
            value: req.resumeRevision,
          },
        );
      }
      log.debug('assignments stream opened', { node: req.nodeName, resumeRevision: req.resumeRevision });
      await streamAssignments({
        store,
        node: req.nodeName,
        resumeRevision: req.resumeRevision,
        send,
        signal,
        log,
        bookmarkIntervalMs: deps.bookmarkIntervalMs,
        podWatch: deps.podWatch,
      });
      log.debug('assignments stream closed', { node: req.nodeName });
    }),

    network: serverStream('NodeGateway.Network', log, streams, async (req, call, send, signal) => {
      requireNode(call, caPem, 'NodeGateway.Network', req.nodeName);
      if (!deps.network) throw unavailable('this controller does not serve the cluster network');
      await deps.network.follow(req.nodeName, send, signal, { deltas: req.acceptDeltas });
    }),

    awaitEndpointsDrained: unary('NodeGateway.AwaitEndpointsDrained', log, async (req, call) => {
      requireNode(call, caPem, 'NodeGateway.AwaitEndpointsDrained', req.nodeName);
      if (!deps.network) throw unavailable('this controller does not serve the cluster network');
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      return deps.network.awaitEndpointsDrained(req, abort.signal);
    }),
  };
}
