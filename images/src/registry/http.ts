// HTTP for the registry client: node:http(s) with keep-alive agents per host, a custom CA
// where configured (or the CAs named explicitly, ./trust.ts), streamed bodies both
// ways, and redirects (blob downloads are often redirected to storage). Connection
// failures become Unavailable errors.
import { readFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { createSecureContext, type SecureContext } from 'node:tls';
import { errorMessage, unavailable, type Logger } from '@flotilla/common';
import { abortReason } from '../content/abort.js';
import { explicitDefaultCas, type ExplicitTrust } from './trust.js';

export interface HttpRequest {
  method: string;
  url: URL;
  /** Names in lower case. */
  headers?: Record<string, string>;
  /** A buffer, or a function that opens the body afresh (so a redirected request can resend it). */
  body?: Buffer | (() => Readable);
  signal?: AbortSignal;
  /** Follow 301/302/303/307/308 (default true); Authorization is dropped on a change of host. */
  followRedirects?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** The URL that answered, after redirects. */
  url: URL;
}

export interface TlsOptions {
  /** PEM of the CA(s) to trust for this host instead of the system's. */
  ca?: string;
  caFile?: string;
}

const maxRedirects = 5;

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export async function readBody(res: HttpResponse, limit = 8 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw unavailable(`response from ${res.url.host} is larger than ${limit} bytes`, {
        object: res.url.href,
      });
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Reads and forgets a body, so its connection goes back to the pool. */
export async function drain(res: HttpResponse): Promise<void> {
  try {
    for await (const chunk of res.body) void chunk;
  } catch {
    // the connection is gone anyway
  }
}

export interface HttpTransportOptions {
  /**
   * Set when this process's Node trusts no CA by default (./trust.ts): hosts without a CA
   * of their own trust Node's bundled roots plus extraCaFile, read at the first HTTPS
   * connection that needs it (unreadable, it is ignored with a warning, as Node does).
   */
  explicitTrust?: ExplicitTrust;
  /** For that warning. */
  logger?: Logger;
}

export class HttpTransport {
  private readonly agents = new Map<string, http.Agent>();
  /** Of the hosts without their own CA, with explicitTrust: one for all of them. */
  private explicitDefault: SecureContext | undefined;

  constructor(
    private readonly tlsFor: (host: string) => TlsOptions | undefined,
    private readonly options: HttpTransportOptions = {},
  ) {}

  /**
   * The TLS context of an HTTPS host, or undefined for Node's default: once per host with
   * its own CA, once per transport for the others (tls.connect would otherwise build one
   * from `ca` for every connection: ~50 ms of CPU with Node's roots and a system bundle).
   */
  private secureContext(host: string): SecureContext | undefined {
    const tls = this.tlsFor(host);
    const ownCa = tls?.ca ?? (tls?.caFile !== undefined ? readFileSync(tls.caFile, 'utf8') : undefined);
    if (ownCa !== undefined) return createSecureContext({ ca: ownCa });
    const trust = this.options.explicitTrust;
    if (trust === undefined) return undefined;
    if (this.explicitDefault === undefined) {
      const file = trust.extraCaFile;
      let pem: string | undefined;
      if (file !== undefined && file !== '') {
        try {
          pem = readFileSync(file, 'latin1');
        } catch (err) {
          this.options.logger?.warn('ignoring the extra CA certificates of NODE_EXTRA_CA_CERTS', {
            file,
            error: errorMessage(err),
          });
        }
      }
      this.explicitDefault = createSecureContext({ ca: explicitDefaultCas(pem) });
    }
    return this.explicitDefault;
  }

  private agent(url: URL): http.Agent {
    const key = `${url.protocol}//${url.host}`;
    let agent = this.agents.get(key);
    if (agent === undefined) {
      if (url.protocol === 'https:') {
        const secureContext = this.secureContext(url.host);
        agent = new https.Agent({
          keepAlive: true,
          maxSockets: 16,
          ...(secureContext !== undefined ? { secureContext } : {}),
        });
      } else {
        agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
      }
      this.agents.set(key, agent);
    }
    return agent;
  }

  async send(request: HttpRequest): Promise<HttpResponse> {
    let url = request.url;
    let method = request.method;
    let headers = { ...request.headers };
    let body = request.body;
    for (let hop = 0; ; hop++) {
      const res = await this.once(method, url, headers, body, request.signal);
      const location = header(res.headers, 'location');
      const redirect = [301, 302, 303, 307, 308].includes(res.status) && location !== undefined;
      if (!redirect || request.followRedirects === false || hop >= maxRedirects) return res;
      await drain(res);
      const next = new URL(location, url);
      if (next.host !== url.host) {
        // Storage back ends authenticate with the signed URL, never with our token.
        const { authorization: _dropped, ...rest } = headers;
        headers = rest;
      }
      if (res.status === 303) {
        method = 'GET';
        body = undefined;
      }
      url = next;
    }
  }

  private once(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | (() => Readable) | undefined,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<HttpResponse>((resolve, reject) => {
      const req = lib.request(url, {
        method,
        headers: Buffer.isBuffer(body) ? { ...headers, 'content-length': String(body.length) } : headers,
        agent: this.agent(url),
        ...(signal !== undefined ? { signal } : {}),
      });
      req.once('response', (res) =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url }),
      );
      req.once('error', (err) => {
        if (signal?.aborted) {
          reject(abortReason(signal));
          return;
        }
        reject(
          unavailable(
            `cannot reach registry ${url.host} (${method} ${url.pathname}): ${errorMessage(err)}`,
            { object: url.href },
            err,
          ),
        );
      });
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        const stream = body();
        stream.once('error', (err) => req.destroy(err));
        stream.pipe(req);
      }
    });
  }

  /** Closes idle connections; requests in flight finish. */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}
