// The node's DNS in place: on the pod bridge's gateway address (the first address of the
// node's pod CIDR, the one host-local hands the pods as their gateway and the bridge
// plugin puts on the bridge), port 53, in the agent's network namespace.
//
// The bridge and its address normally appear with the first pod's CNI ADD, but a DNS
// server that only binds then would miss that pod's first queries. So at start the
// bridge is made here when missing, with exactly the address the bridge plugin would give
// it (gateway/prefix): the plugin takes an existing bridge whose IPv4 address is that one
// (its ensureAddr compares the address and leaves it). When the bridge holds another
// address (a pod CIDR changed under a running node) it is left alone, and binding is
// retried in the background until the address is there, so DNS comes up as soon as the
// network does and never holds up the agent's start.
import { existsSync } from 'node:fs';
import { createLogger, errorMessage, invalidArgument, type Logger } from '@flotilla/common';
import { ipv4CidrProblem } from '../network/config.js';
import type { NetworkStateSource } from '../network/state-source.js';
import { runAgentCommand } from '../runtime/spawn-server.js';
import { DnsServer, type DnsServerAddress } from './server.js';
import type { Upstream } from './upstreams.js';

export interface PodGateway {
  /** e.g. 10.244.3.1 */
  address: string;
  /** The address with the pod CIDR's prefix, as the bridge holds it: 10.244.3.1/24. */
  cidr: string;
}

/** The first address of a pod CIDR: host-local's default gateway. */
export function podGateway(podCidr: string): PodGateway {
  const problem = ipv4CidrProblem(podCidr);
  if (problem !== undefined)
    throw invalidArgument(`pod CIDR ${JSON.stringify(podCidr)} ${problem}`, {
      field: 'podCidr',
      value: podCidr,
    });
  const [base = '', bitsText = ''] = podCidr.split('/');
  const bits = Number(bitsText);
  const n = base.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - bits);
  const gateway = Math.floor(n / size) * size + 1;
  const address = [24, 16, 8, 0].map((shift) => Math.floor(gateway / 2 ** shift) % 256).join('.');
  return { address, cidr: `${address}/${bits}` };
}

async function ip(args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const r = await runAgentCommand('ip', args, { timeoutMs: 10_000 });
  return { ok: r.code === 0, stdout: r.stdout, stderr: r.stderr.trim() };
}

export type BridgeOutcome = 'created' | 'address-added' | 'present' | 'other-address';

/**
 * Makes the bridge hold gateway.cidr (creating the bridge, adding the address, setting it
 * up) unless it already holds another IPv4 address, which is left as it is.
 */
export async function ensureBridgeAddress(bridgeName: string, gateway: PodGateway): Promise<BridgeOutcome> {
  let outcome: BridgeOutcome = 'present';
  if (!existsSync(`/sys/class/net/${bridgeName}`)) {
    const add = await ip(['link', 'add', bridgeName, 'type', 'bridge']);
    // A CNI ADD may have made it meanwhile: that is the goal too.
    if (!add.ok && !/exists/i.test(add.stderr))
      throw new Error(`ip link add ${bridgeName} type bridge: ${add.stderr}`);
    if (add.ok) outcome = 'created';
  }
  const shown = await ip(['-4', '-o', 'addr', 'show', 'dev', bridgeName]);
  if (!shown.ok) throw new Error(`ip addr show dev ${bridgeName}: ${shown.stderr}`);
  const addresses = [...shown.stdout.matchAll(/\binet (\d+\.\d+\.\d+\.\d+\/\d+)/g)].map((m) => m[1]);
  if (!addresses.includes(gateway.cidr)) {
    if (addresses.length > 0) return 'other-address';
    const add = await ip(['addr', 'add', gateway.cidr, 'dev', bridgeName]);
    if (!add.ok && !/exists/i.test(add.stderr))
      throw new Error(`ip addr add ${gateway.cidr} dev ${bridgeName}: ${add.stderr}`);
    if (outcome === 'present') outcome = 'address-added';
  }
  const up = await ip(['link', 'set', bridgeName, 'up']);
  if (!up.ok) throw new Error(`ip link set ${bridgeName} up: ${up.stderr}`);
  return outcome;
}

export interface NodeDnsOptions {
  network: NetworkStateSource;
  podCidr: string;
  bridgeName: string;
  logger?: Logger;
  /** Default 53. */
  port?: number;
  hostResolvConf?: string;
  upstreams?: () => Upstream[] | Promise<Upstream[]>;
  /** While the address cannot be bound, try again this often (default 2 s). */
  retryMs?: number;
}

export class NodeDns {
  readonly gateway: PodGateway;
  private readonly o: NodeDnsOptions;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private server: DnsServer | undefined;
  private loop: Promise<void> | undefined;

  constructor(options: NodeDnsOptions) {
    this.o = options;
    this.gateway = podGateway(options.podCidr);
    this.log = options.logger ?? createLogger({ component: 'dns' });
  }

  /** Where it answers once bound. */
  get address(): DnsServerAddress | undefined {
    return this.server?.address;
  }

  /** Starts in the background; never throws. */
  start(): void {
    this.loop ??= this.run().catch((err: unknown) =>
      this.log.error('node DNS stopped unexpectedly', { error: errorMessage(err) }),
    );
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let warned = false;
    while (!signal.aborted) {
      try {
        const outcome = await ensureBridgeAddress(this.o.bridgeName, this.gateway);
        if (outcome === 'created' || outcome === 'address-added')
          this.log.info('pod bridge prepared for DNS', {
            bridge: this.o.bridgeName,
            address: this.gateway.cidr,
            outcome,
          });
        if (outcome === 'other-address' && !warned)
          this.log.warn('the pod bridge holds another address; DNS waits for its gateway address', {
            bridge: this.o.bridgeName,
            want: this.gateway.cidr,
          });
        const server = new DnsServer({
          network: this.o.network,
          address: this.gateway.address,
          port: this.o.port ?? 53,
          logger: this.log,
          ...(this.o.hostResolvConf !== undefined ? { hostResolvConf: this.o.hostResolvConf } : {}),
          ...(this.o.upstreams !== undefined ? { upstreams: this.o.upstreams } : {}),
        });
        await server.start();
        if (signal.aborted) {
          await server.stop();
          return;
        }
        this.server = server;
        return;
      } catch (err) {
        if (!warned)
          this.log.warn('node DNS not listening yet; retrying', {
            address: this.gateway.address,
            error: errorMessage(err),
          });
        warned = true;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.o.retryMs ?? 2_000);
        timer.unref();
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await this.server?.stop();
    this.server = undefined;
  }
}
