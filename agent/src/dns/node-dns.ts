// The node's DNS in place: on the pod bridge's gateway address (the first address of the
// node's pod CIDR, the one host-local hands the pods as their gateway and the bridge
// plugin puts on the bridge), port 53, in the agent's network namespace.
//
// The bridge and its address appear with the first pod's CNI ADD (or are there already
// when the agent restarts over running pods). DNS binds once the address exists: at
// start when it does, else right after each pod network is made (bindNow, which the pod
// manager awaits before starting that pod's containers, so even the first pod's first
// query finds the server), and on a slow retry meanwhile. Making the bridge here instead
// would leave a bridge on every host whose agent never runs a pod, under a name and an
// address decided before the controller assigned the node's pod CIDR.
import { createLogger, errorMessage, invalidArgument, type Logger } from '@flotilla/common';
import { ipv4CidrProblem } from '../network/config.js';
import type { NetworkStateSource } from '../network/state-source.js';
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

export interface NodeDnsOptions {
  network: NetworkStateSource;
  /**
   * The node's pod CIDR: a string, or a function when it is learnt later (the controller
   * assigns it at registration; '' until then, and DNS does not bind).
   */
  podCidr: string | (() => string);
  logger?: Logger;
  /** Default 53. */
  port?: number;
  hostResolvConf?: string;
  upstreams?: () => Upstream[] | Promise<Upstream[]>;
  /** See DnsServerOptions.outside. */
  outside?: 'forward' | 'nxdomain';
  /** While the address cannot be bound, try again this often (default 2 s). */
  retryMs?: number;
}

export class NodeDns {
  private readonly o: NodeDnsOptions;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private server: DnsServer | undefined;
  private loop: Promise<void> | undefined;
  private attempt: Promise<boolean> | undefined;
  /** The last bind failure's code, logged once per code rather than every retry. */
  private lastFailure: string | undefined;

  constructor(options: NodeDnsOptions) {
    this.o = options;
    this.log = options.logger ?? createLogger({ component: 'dns' });
    // A CIDR given up front must be valid; one learnt later is checked when it arrives.
    if (typeof options.podCidr === 'string') podGateway(options.podCidr);
  }

  /** The gateway DNS answers on (or will): from the pod CIDR; undefined while none is known. */
  get gateway(): PodGateway | undefined {
    if (this.server !== undefined) return this.boundGateway;
    const cidr = typeof this.o.podCidr === 'string' ? this.o.podCidr : this.o.podCidr();
    return cidr === '' || ipv4CidrProblem(cidr) !== undefined ? undefined : podGateway(cidr);
  }

  private boundGateway: PodGateway | undefined;

  /** Where it answers once bound. */
  get address(): DnsServerAddress | undefined {
    return this.server?.address;
  }

  /** Starts binding in the background; never throws. */
  start(): void {
    this.loop ??= this.run().catch((err: unknown) =>
      this.log.error('node DNS stopped unexpectedly', { error: errorMessage(err) }),
    );
  }

  /** Tries to bind now (a pod network was just made); resolves either way, never rejects. */
  async bindNow(): Promise<void> {
    if (this.loop === undefined || this.server !== undefined) return;
    await this.tryBind();
  }

  private tryBind(): Promise<boolean> {
    this.attempt ??= this.bindOnce().finally(() => (this.attempt = undefined));
    return this.attempt;
  }

  private async bindOnce(): Promise<boolean> {
    if (this.server !== undefined) return true;
    if (this.abort.signal.aborted) return false;
    const gateway = this.gateway;
    if (gateway === undefined) {
      if (this.lastFailure !== 'no-cidr')
        this.log.info('node DNS waits for the pod CIDR (assigned at registration)');
      this.lastFailure = 'no-cidr';
      return false;
    }
    const server = new DnsServer({
      network: this.o.network,
      address: gateway.address,
      port: this.o.port ?? 53,
      logger: this.log,
      ...(this.o.hostResolvConf !== undefined ? { hostResolvConf: this.o.hostResolvConf } : {}),
      ...(this.o.upstreams !== undefined ? { upstreams: this.o.upstreams } : {}),
      ...(this.o.outside !== undefined ? { outside: this.o.outside } : {}),
    });
    try {
      await server.start();
    } catch (err) {
      // EADDRNOTAVAIL until the first pod network puts the gateway on the bridge.
      const code = (err as NodeJS.ErrnoException).code ?? errorMessage(err);
      if (code !== this.lastFailure)
        this.log[code === 'EADDRNOTAVAIL' ? 'info' : 'warn']('node DNS not listening yet; retrying', {
          address: gateway.address,
          error: errorMessage(err),
          ...(code === 'EADDRNOTAVAIL'
            ? { hint: 'the pod bridge gets this address with the first pod' }
            : {}),
        });
      this.lastFailure = code;
      return false;
    }
    if (this.abort.signal.aborted) {
      await server.stop();
      return false;
    }
    this.server = server;
    this.boundGateway = gateway;
    return true;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (await this.tryBind()) return;
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
    await this.attempt;
    await this.server?.stop();
    this.server = undefined;
  }
}
