// The first contact: trade a join token and a CSR for the node's certificate and a
// NATS JWT. The private key and the NATS seed are made here and never leave the host.
import { X509Certificate } from 'node:crypto';
import {
  FlotillaError,
  type Logger,
  caCertHash,
  controllerChannel,
  createCertificateRequest,
  failedPrecondition,
  newUserSeed,
  nodeCommonName,
  nodeOrganization,
  verifyClientCertificate,
} from '@flotilla/common';
import { type JoinRequest, type JoinResponse, NodeGatewayClient } from '@flotilla/proto';
import { Backoff, sleep } from '../util/backoff.js';
import { callUnary } from '../util/grpc-call.js';
import { isRetryable } from '../util/retry.js';
import { checkServerChain, fetchPresentedChain, pickPinnedCa } from './trust.js';
import { hostOf } from '../options/validate.js';
import type { NodeIdentity } from './types.js';

const callTimeoutMs = 10_000;

export type JoinTrust = { caPem: string } | { caCertHash: string };

export interface JoinParams {
  controller: string;
  token: string;
  trust: JoinTrust;
  nodeName: string;
  log: Logger;
  signal?: AbortSignal;
}

function aborted(): FlotillaError {
  return failedPrecondition('join cancelled: the agent is stopping');
}

/**
 * Resolves the CA to trust and checks the controller's certificate against it, retrying
 * while the controller cannot be reached.
 */
async function trustedCa(params: JoinParams, backoff: Backoff): Promise<string> {
  const { trust, controller, log, signal } = params;
  const host = hostOf(controller);
  for (;;) {
    if (signal?.aborted) throw aborted();
    try {
      const chain = await fetchPresentedChain(controller);
      if ('caPem' in trust) {
        checkServerChain(chain, new X509Certificate(trust.caPem), host, controller);
        return trust.caPem;
      }
      const caPem = pickPinnedCa(chain, trust.caCertHash, host, controller);
      log.info('controller CA matches the pinned hash', { controller, caCertHash: trust.caCertHash });
      return caPem;
    } catch (err) {
      const e = err as FlotillaError;
      if (e.code !== 'Unavailable') throw e;
      const delay = backoff.next();
      log.warn('controller unreachable; retrying', { controller, error: e.message, retryInMs: delay });
      await sleep(delay, signal);
    }
  }
}

/** Checks what the controller sent back before anything is written to disk. */
export function checkJoinResponse(res: JoinResponse, caPem: string, nodeName: string): void {
  if (res.caCertificatePem && caCertHash(res.caCertificatePem) !== caCertHash(caPem)) {
    throw failedPrecondition('the controller returned a CA certificate other than the one this agent trusts');
  }
  if (!res.natsUserJwt) throw failedPrecondition('the controller returned no NATS credentials for this node');
  let identity;
  try {
    identity = verifyClientCertificate(caPem, new X509Certificate(res.certificatePem).raw);
  } catch (err) {
    throw failedPrecondition(
      `the controller returned an unusable node certificate: ${(err as Error).message}`,
    );
  }
  if (
    identity.commonName !== nodeCommonName(nodeName) ||
    !identity.organizations.includes(nodeOrganization)
  ) {
    throw failedPrecondition(
      `the controller issued a certificate for ${identity.commonName} (${identity.organizations.join(', ')}), ` +
        `not for ${nodeCommonName(nodeName)} (${nodeOrganization})`,
    );
  }
}

async function joinWithRetries(
  client: NodeGatewayClient,
  params: JoinParams,
  request: JoinRequest,
): Promise<JoinResponse> {
  const { controller, log, signal } = params;
  const backoff = new Backoff();
  for (;;) {
    if (signal?.aborted) throw aborted();
    try {
      return await callUnary(client.join.bind(client), request, {
        timeoutMs: callTimeoutMs,
        target: controller,
        signal,
      });
    } catch (err) {
      const e = err as FlotillaError;
      if (signal?.aborted) throw aborted();
      if (!isRetryable(e)) {
        throw new FlotillaError(
          e.code,
          `join refused: ${e.message}`,
          { ...e.context, node: request.nodeName },
          { cause: e },
        );
      }
      const delay = backoff.next();
      log.warn('join failed; retrying', { controller, error: e.message, retryInMs: delay });
      await sleep(delay, signal);
    }
  }
}

/**
 * Joins the cluster. Retries with back-off while the controller is unreachable; a
 * refusal ends the attempt with an Unauthenticated "join refused: …" error.
 */
export async function joinCluster(params: JoinParams): Promise<NodeIdentity> {
  const { controller, token, nodeName, log } = params;
  const caPem = await trustedCa(params, new Backoff());
  const csr = await createCertificateRequest({
    commonName: nodeCommonName(nodeName),
    organization: nodeOrganization,
  });
  const nats = newUserSeed();
  const channel = controllerChannel(controller, { caPem });
  const client = new NodeGatewayClient(controller, channel.credentials, channel.options);
  try {
    const res = await joinWithRetries(client, params, {
      token,
      nodeName,
      csrPem: csr.csrPem,
      natsUserPublicKey: nats.publicKey,
    });
    checkJoinResponse(res, caPem, nodeName);
    log.info('joined the cluster', { node: nodeName, controller, natsUrls: res.natsUrls });
    return {
      nodeName,
      controller,
      natsUrls: res.natsUrls,
      joinedAt: new Date().toISOString(),
      keyPem: csr.keyPem,
      certPem: res.certificatePem,
      caPem,
      natsSeed: nats.seed,
      natsJwt: res.natsUserJwt,
    };
  } finally {
    client.close();
  }
}
