// The registry auth flow: anonymous first; a 401's WWW-Authenticate says what the
// registry wants. Basic → send the credentials; Bearer → ask the realm for a token for
// the scopes the request needs (with the credentials, if any) and keep it per scope
// until it expires.
import { FlotillaError, errorMessage, type Logger } from '@flotilla/common';
import { parseWwwAuthenticate, type Challenge } from './challenge.js';
import { drain, readBody, type HttpTransport } from './http.js';
import type { CredentialLookup, Credentials } from './types.js';

/** "repository:team/web:pull,push" — what a request needs, as token servers spell it. */
export type Scope = string;

export function repositoryScope(repository: string, actions: ('pull' | 'push')[]): Scope {
  return `repository:${repository}:${actions.join(',')}`;
}

function basic(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Tokens are refreshed this long before the registry would refuse them. */
const expirySlackMs = 10_000;

export class Authorizer {
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Map<string, CachedToken>();

  constructor(
    private readonly transport: HttpTransport,
    private readonly credentials: CredentialLookup,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The Authorization header for a request to host that needs scopes, when one is known. */
  async authorization(host: string, scopes: Scope[], signal?: AbortSignal): Promise<string | undefined> {
    const challenge = this.challenges.get(host);
    if (challenge === undefined) return undefined;
    if (challenge.scheme === 'basic') {
      const credentials = await this.credentials(host);
      return credentials === undefined ? undefined : basic(credentials);
    }
    const token = await this.token(host, challenge, scopes, signal);
    return `Bearer ${token}`;
  }

  /**
   * Records the challenge of a 401 answered to a request sent with `used` (or none);
   * returns the Authorization to retry with, or undefined when a retry cannot do better.
   */
  async challenged(
    host: string,
    scopes: Scope[],
    wwwAuthenticate: string | undefined,
    used: string | undefined,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const parsed = parseWwwAuthenticate(wwwAuthenticate ?? '');
    const challenge = parsed.find((c) => c.scheme === 'bearer') ?? parsed.find((c) => c.scheme === 'basic');
    if (challenge === undefined) return undefined;
    this.challenges.set(host, challenge);
    if (challenge.scheme === 'bearer') {
      const wanted = challenge.params.scope?.split(' ').filter((s) => s !== '') ?? [];
      for (const scope of wanted) if (!scopes.includes(scope)) scopes.push(scope);
      this.tokens.delete(this.tokenKey(host, challenge, scopes));
    }
    const next = await this.authorization(host, scopes, signal);
    return next !== undefined && next !== used ? next : undefined;
  }

  private tokenKey(host: string, challenge: Challenge, scopes: Scope[]): string {
    return [host, challenge.params.realm ?? '', challenge.params.service ?? '', ...[...scopes].sort()].join(
      ' ',
    );
  }

  private async token(
    host: string,
    challenge: Challenge,
    scopes: Scope[],
    signal?: AbortSignal,
  ): Promise<string> {
    const key = this.tokenKey(host, challenge, scopes);
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.expiresAt > this.now()) return cached.token;
    const realm = challenge.params.realm;
    if (realm === undefined || !/^https?:\/\//.test(realm)) {
      throw new FlotillaError('Unauthenticated', `registry ${host} asked for a token without a valid realm`, {
        object: `registry/${host}`,
        value: realm,
      });
    }
    const url = new URL(realm);
    if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const credentials = await this.credentials(host);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (credentials !== undefined) headers.authorization = basic(credentials);
    const res = await this.transport.send({ method: 'GET', url, headers, ...(signal ? { signal } : {}) });
    if (res.status === 401 || res.status === 403) {
      await drain(res);
      throw new FlotillaError(
        'Unauthenticated',
        credentials === undefined
          ? `registry ${host} requires a login: log in with deploy login ${host}`
          : `login to ${host} refused: incorrect username or password (log in again with deploy login ${host})`,
        { object: `registry/${host}` },
      );
    }
    if (res.status !== 200) {
      const text = (await readBody(res, 64 * 1024)).toString('utf8').slice(0, 200);
      throw new FlotillaError('Unavailable', `token server ${url.host} answered ${res.status}: ${text}`, {
        object: `registry/${host}`,
      });
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse((await readBody(res, 1024 * 1024)).toString('utf8')) as typeof body;
    } catch (err) {
      throw new FlotillaError('Unavailable', `token server ${url.host} sent no JSON: ${errorMessage(err)}`, {
        object: `registry/${host}`,
      });
    }
    const token = typeof body.token === 'string' ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new FlotillaError('Unavailable', `token server ${url.host} sent no token`, {
        object: `registry/${host}`,
      });
    }
    // The distribution spec's default lifetime is 60 s.
    const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    this.tokens.set(key, { token, expiresAt: this.now() + lifetime * 1000 - expirySlackMs });
    this.log.debug('registry token', { registry: host, scopes });
    return token;
  }
}
