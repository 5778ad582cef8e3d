// The node's DNS server, the thin I/O around message.ts and resolve.ts: UDP on
// address:port, and TCP (2-byte length prefix, RFC 1035 §4.2.2; RFC 7766) on the same
// port for the answers that do not fit in 512 bytes. Cluster names are answered from the
// newest NetworkState; other names are relayed as they came (EDNS and all) to the host's
// nameservers, one after the other, each with a timeout, and SERVFAIL when none answers.
// Nothing a client sends ends the server: a malformed packet is answered FORMERR (when its
// header was readable) or dropped.
import { randomInt } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { connect, createServer, isIPv6, type Server, type Socket as TcpSocket } from 'node:net';
import { createLogger, errorMessage, type Logger } from '@flotilla/common';
import type { NetworkStateSource } from '../network/state-source.js';
import { encodeForUdp, encodeMessage, parseMessage, rcode, replyTo, type DnsMessage } from './message.js';
import { decideQuery, dnsView, serverFailure, type DnsView } from './resolve.js';
import { upstreamsFromResolvConf, type Upstream } from './upstreams.js';

export interface DnsServerOptions {
  network: NetworkStateSource;
  /** The address to answer on: the pod bridge's gateway; a loopback address in tests. */
  address: string;
  /** Default 53; 0 picks a free port (UDP's, and TCP takes the same one). */
  port?: number;
  /** Also answer over TCP (default true). */
  tcp?: boolean;
  /** The nameservers to forward to; default: the host's resolv.conf, re-read every 5 s. */
  upstreams?: () => Upstream[] | Promise<Upstream[]>;
  /**
   * Names outside the cluster domain: forwarded (the default), or NXDOMAIN at once, for a
   * node told to forward nowhere (--dns-upstreams none): the cluster's names are then the
   * only names there are, and resolvers that stop at SERVFAIL (busybox nslookup, musl)
   * still go on through the search list.
   */
  outside?: 'forward' | 'nxdomain';
  /** Default /etc/resolv.conf. */
  hostResolvConf?: string;
  /** How long one upstream may take to answer (default 2 s). */
  forwardTimeoutMs?: number;
  logger?: Logger;
}

export interface DnsServerAddress {
  address: string;
  port: number;
}

/** Forwarded queries in flight at once; past this, SERVFAIL at once rather than pile up. */
const maxInflightForwards = 512;
const maxTcpConnections = 128;
const tcpIdleMs = 10_000;
const resolvConfRereadMs = 5_000;

export class DnsServer {
  private readonly o: DnsServerOptions;
  private readonly log: Logger;
  private view: DnsView;
  private unsubscribe: (() => void) | undefined;
  private udp: Socket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new Set<TcpSocket>();
  private inflight = 0;
  private upstreamCache: { at: number; list: Upstream[] } | undefined;
  private bound: DnsServerAddress | undefined;
  private closed = false;

  constructor(options: DnsServerOptions) {
    this.o = options;
    this.log = options.logger ?? createLogger({ component: 'dns' });
    this.view = dnsView(options.network.current());
  }

  get address(): DnsServerAddress | undefined {
    return this.bound;
  }

  /** Binds UDP (then TCP on the same port); rejects when either cannot be bound. */
  async start(): Promise<DnsServerAddress> {
    if (this.bound !== undefined) return this.bound;
    const udp = createSocket({ type: isIPv6(this.o.address) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ address: this.o.address, port: this.o.port ?? 53, exclusive: true }, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    const port = udp.address().port;
    udp.on('error', (err) => this.log.warn('DNS UDP socket error', { error: errorMessage(err) }));
    udp.on('message', (msg, rinfo) => this.onUdp(udp, msg, rinfo));
    if (this.o.tcp ?? true) {
      const tcp = createServer((socket) => this.onTcp(socket));
      tcp.maxConnections = maxTcpConnections;
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen({ host: this.o.address, port, exclusive: true }, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        throw err;
      }
      tcp.on('error', (err) => this.log.warn('DNS TCP server error', { error: errorMessage(err) }));
      this.tcp = tcp;
    }
    this.udp = udp;
    this.view = dnsView(this.o.network.current());
    this.unsubscribe = this.o.network.onChange((state) => {
      this.view = dnsView(state);
    });
    this.bound = { address: this.o.address, port };
    this.log.info('DNS listening', { address: this.o.address, port, tcp: this.tcp !== undefined });
    return this.bound;
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const c of this.connections) c.destroy();
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    this.bound = undefined;
    await Promise.all([
      udp && new Promise<void>((resolve) => udp.close(() => resolve())),
      tcp && new Promise<void>((resolve) => tcp.close(() => resolve())),
    ]);
  }

  /** The reply to one query's bytes, or undefined to send nothing. Never rejects. */
  async answer(bytes: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    const encode = (m: DnsMessage): Buffer => (transport === 'udp' ? encodeForUdp(m) : encodeMessage(m));
    const parsed = parseMessage(bytes);
    if (!parsed.ok) {
      this.log.debug('malformed DNS message', { reason: parsed.reason, transport });
      // A response that does not parse is not answered: answering could start a loop.
      if (parsed.header === undefined || parsed.header.qr) return undefined;
      return encode(replyTo({ header: parsed.header, questions: [] }, rcode.formErr));
    }
    const query = parsed.message;
    // Responses are never answered (two servers could bounce one between them forever).
    if (query.header.qr) return undefined;
    try {
      const decision = decideQuery(query, this.view);
      if (decision.kind === 'reply') return encode(decision.message);
      if (this.o.outside === 'nxdomain') return encode(replyTo(query, rcode.nxDomain));
      const forwarded = await this.forward(bytes, query, transport);
      return forwarded ?? encode(serverFailure(query));
    } catch (err) {
      this.log.warn('DNS query failed', { error: errorMessage(err), name: query.questions[0]?.name });
      try {
        return encode(serverFailure(query));
      } catch {
        return undefined;
      }
    }
  }

  private onUdp(socket: Socket, msg: Buffer, rinfo: RemoteInfo): void {
    void this.answer(msg, 'udp').then((reply) => {
      if (reply === undefined || this.closed) return;
      socket.send(reply, rinfo.port, rinfo.address, (err) => {
        if (err) this.log.debug('DNS reply not sent', { error: errorMessage(err), to: rinfo.address });
      });
    });
  }

  private onTcp(socket: TcpSocket): void {
    this.connections.add(socket);
    socket.setTimeout(tcpIdleMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.connections.delete(socket));
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const message = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        // Answered as they come: RFC 7766 lets replies to pipelined queries arrive out of order.
        void this.answer(Buffer.from(message), 'tcp').then((reply) => {
          if (reply === undefined || socket.destroyed) return;
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(reply.length);
          socket.write(Buffer.concat([prefix, reply]));
        });
      }
    });
  }

  private async upstreams(): Promise<Upstream[]> {
    const own = [this.o.address];
    if (this.o.upstreams !== undefined) {
      const list = await this.o.upstreams();
      return list.filter((u) => !(own.includes(u.address) && u.port === (this.bound?.port ?? 53)));
    }
    const now = Date.now();
    if (this.upstreamCache !== undefined && now - this.upstreamCache.at < resolvConfRereadMs)
      return this.upstreamCache.list;
    let text = '';
    try {
      text = await readFile(this.o.hostResolvConf ?? '/etc/resolv.conf', 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn('cannot read the host resolv.conf', { error: errorMessage(err) });
    }
    const list = upstreamsFromResolvConf(text, own);
    this.upstreamCache = { at: now, list };
    return list;
  }

  /** The first usable upstream reply (ID put back), or undefined when none came. */
  private async forward(
    bytes: Buffer,
    query: DnsMessage,
    transport: 'udp' | 'tcp',
  ): Promise<Buffer | undefined> {
    if (this.inflight >= maxInflightForwards) return undefined;
    this.inflight++;
    try {
      const upstreams = await this.upstreams();
      const timeoutMs = this.o.forwardTimeoutMs ?? 2_000;
      let last: Buffer | undefined;
      for (const upstream of upstreams) {
        if (this.closed) return undefined;
        try {
          let reply = await forwardUdp(bytes, upstream, timeoutMs);
          // Too big for UDP upstream, and the client can take more over TCP: ask again so.
          if (transport === 'tcp' && (reply.readUInt16BE(2) & 0x0200) !== 0)
            reply = await forwardTcp(bytes, upstream, timeoutMs);
          reply.writeUInt16BE(query.header.id, 0);
          const code = reply.readUInt16BE(2) & 0x0f;
          // The next server may know better; the last one's word stands.
          if (code === rcode.servFail || code === rcode.refused) {
            last = reply;
            continue;
          }
          return reply;
        } catch (err) {
          this.log.debug('DNS upstream did not answer', {
            upstream: upstream.address,
            error: errorMessage(err),
            name: query.questions[0]?.name,
          });
        }
      }
      return last;
    } finally {
      this.inflight--;
    }
  }
}

/** One query to one upstream over UDP under a fresh random ID; its reply with our ID. */
function forwardUdp(query: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: isIPv6(upstream.address.split('%')[0] ?? '') ? 'udp6' : 'udp4' });
    const id = randomInt(0x10000);
    const out = Buffer.from(query);
    out.writeUInt16BE(id, 0);
    let finished = false;
    const done = (err: Error | undefined, reply?: Buffer): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.close();
      if (err !== undefined) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (err) => done(err));
    socket.on('message', (msg, rinfo) => {
      // Only the upstream's answer to this query: anything else on the port is ignored.
      if (rinfo.address !== upstream.address.split('%')[0] || rinfo.port !== upstream.port) return;
      if (msg.length < 12 || msg.readUInt16BE(0) !== id || (msg.readUInt16BE(2) & 0x8000) === 0) return;
      done(undefined, Buffer.from(msg));
    });
    socket.send(out, upstream.port, upstream.address, (err) => {
      if (err) done(err);
    });
  });
}

/** One query to one upstream over TCP. */
function forwardTcp(query: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const id = randomInt(0x10000);
    const out = Buffer.alloc(query.length + 2);
    out.writeUInt16BE(query.length, 0);
    query.copy(out, 2);
    out.writeUInt16BE(id, 2);
    const socket = connect({ host: upstream.address, port: upstream.port });
    let data: Buffer = Buffer.alloc(0);
    const done = (err: Error | undefined, reply?: Buffer): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (err) => done(err));
    socket.on('connect', () => socket.write(out));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length < 2) return;
      const length = data.readUInt16BE(0);
      if (data.length < 2 + length) return;
      const reply = Buffer.from(data.subarray(2, 2 + length));
      if (reply.length < 12 || reply.readUInt16BE(0) !== id)
        done(new Error('the upstream answered another query'));
      else done(undefined, reply);
    });
    socket.on('end', () => done(new Error('the upstream closed the connection')));
  });
}
