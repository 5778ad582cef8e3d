// deploy token create|list|revoke: join tokens for agents.
import { caCertHash, readClientConfig } from '@flotilla/common';
import type { CreateJoinTokenResponse } from '@flotilla/proto';
import type { Command, CommandContext } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { formatDuration } from '../cli/values.js';
import { connectCluster, withCluster } from '../client/cluster-client.js';
import { formatExpiry, tokensTable } from '../format/tokens.js';

const maxTtlMs = 365 * 86_400_000;
const maxDescription = 256;

function tokenId(ctx: CommandContext): string {
  const id = ctx.args[0] ?? '';
  if (/^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(id)) {
    throw new UsageError(
      `"${id.slice(0, 6)}.…" is a whole token; pass only its ID, the 6 characters before the dot ("${id.slice(0, 6)}")`,
      ctx.commandPath,
      { field: 'ID' },
    );
  }
  if (!/^[a-z0-9]{6}$/.test(id)) {
    throw new UsageError(
      `invalid token ID "${id}": must be 6 characters of a-z and 0-9, as "deploy token list" shows`,
      ctx.commandPath,
      { field: 'ID', value: id },
    );
  }
  return id;
}

async function create(ctx: CommandContext): Promise<number> {
  const ttlMs = ctx.flags.number('ttl') ?? 86_400_000;
  if (ttlMs < 1000 || ttlMs > maxTtlMs) {
    throw new UsageError(
      `invalid value "${formatDuration(ttlMs)}" for flag --ttl: must be from 1s to 365d`,
      ctx.commandPath,
      { field: 'ttl' },
    );
  }
  const description = ctx.flags.string('description') ?? '';
  if (description.length > maxDescription || /[\p{Cc}]/u.test(description)) {
    throw new UsageError(
      `invalid value for flag --description: must be at most ${maxDescription} characters on one line`,
      ctx.commandPath,
      { field: 'description' },
    );
  }
  const config = await readClientConfig(ctx.global.configPath);
  const api = connectCluster(config);
  let response: CreateJoinTokenResponse;
  try {
    response = await api.createJoinToken({ ttlSeconds: Math.round(ttlMs / 1000), description });
  } finally {
    api.close();
  }
  const server = config.server;
  // The pin of the CA we trust ourselves, should the controller not name it.
  const pin = response.caCertHash || caCertHash(config.caCertificate);
  if (ctx.flags.boolean('quiet')) {
    ctx.io.stdout(`${response.secretToken}\n`);
    return 0;
  }
  const expires = response.token ? formatExpiry(response.token.expiresAt, new Date()) : '<unknown>';
  ctx.io.stdout(
    [
      `token:    ${response.secretToken}`,
      `id:       ${response.token?.id ?? response.secretToken.split('.')[0]}`,
      `expires:  ${expires}`,
      '',
      'The secret is shown only now. Join a host with:',
      '',
      `  flotilla-agent --join ${server} --token ${response.secretToken} --ca-cert-hash ${pin}`,
      '',
    ].join('\n'),
  );
  return 0;
}

async function list(ctx: CommandContext): Promise<number> {
  const { tokens } = await withCluster(ctx.global.configPath, (api) => api.listJoinTokens());
  if (tokens.length === 0) {
    ctx.io.stderr('No join tokens. Create one with "deploy token create".\n');
    return 0;
  }
  ctx.io.stdout(tokensTable(tokens, new Date()));
  return 0;
}

async function revoke(ctx: CommandContext): Promise<number> {
  const id = tokenId(ctx);
  const token = await withCluster(ctx.global.configPath, (api) => api.revokeJoinToken(id));
  ctx.io.stdout(`join token ${token.id || id} revoked${token.revokedAt ? ` at ${token.revokedAt}` : ''}\n`);
  return 0;
}

export const tokenCommand: Command = {
  name: 'token',
  aliases: ['tokens'],
  summary: 'manage join tokens for agents',
  description:
    'Manage join tokens. An agent presents one once, with its first certificate request; after that it\n' +
    'authenticates with its own certificate. Tokens expire (default 24h) and can be revoked.',
  subcommands: [
    {
      name: 'create',
      summary: 'create a join token and print the agent command that uses it',
      flags: [
        {
          name: 'ttl',
          kind: 'duration',
          placeholder: 'DURATION',
          description: 'lifetime, from 1s to 365d, e.g. 30m, 24h, 7d',
          default: '24h',
        },
        { name: 'description', kind: 'string', placeholder: 'TEXT', description: 'what the token is for' },
        { name: 'quiet', short: 'q', kind: 'boolean', description: 'print only the token' },
      ],
      examples: ['deploy token create', 'deploy token create --ttl 1h --description "rack 3"'],
      run: create,
    },
    {
      name: 'list',
      aliases: ['ls'],
      summary: 'list join tokens: ID, DESCRIPTION, EXPIRES, STATUS, USED-BY',
      run: list,
    },
    {
      name: 'revoke',
      aliases: ['rm'],
      summary: 'revoke a join token; nodes that joined with it keep their certificates',
      args: { usage: 'ID', min: 1, max: 1 },
      examples: ['deploy token revoke abc123'],
      run: revoke,
    },
  ],
};
