// deploy login / logout: registry credentials, saved only once the registry accepts them.
import { credentialKey, login, logout, registryDisplayName } from '@flotilla/images';
import type { Command, CommandContext } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { imageFlags } from '../images/flags.js';
import { registryClientFor, imageSettingsOf } from '../images/session.js';
import { processTerminal } from '../images/terminal.js';
import { FileCredentialStore } from '@flotilla/images';
import { errorMessage } from '@flotilla/common';

/** The registry argument as credentials are keyed, or a usage error naming what is valid. */
function registryArg(ctx: CommandContext): string {
  const text = ctx.args[0] ?? '';
  try {
    return credentialKey(text);
  } catch (err) {
    throw new UsageError(errorMessage(err), ctx.commandPath, { field: 'REGISTRY', value: text });
  }
}

/** A password piped in: docker's rule, trailing newlines (and CRs) are not part of it. */
export function passwordFromStdin(text: string): string {
  return text.replace(/[\r\n]+$/, '');
}

async function runLogin(ctx: CommandContext): Promise<number> {
  const registry = registryArg(ctx);
  const settings = imageSettingsOf(ctx);
  const terminal = processTerminal(ctx.io.stderr);
  const fromStdin = ctx.flags.boolean('password-stdin');
  let username = ctx.flags.string('username');
  if (username === undefined || username === '') {
    if (fromStdin || !terminal.interactive) {
      throw new UsageError(
        'needs -u USERNAME when the password comes from stdin or stdin is not a terminal',
        ctx.commandPath,
        { field: 'username' },
      );
    }
    username = (await terminal.readLine('Username: ', ctx.io.signal)).trim();
    if (username === '')
      throw new UsageError('the username is empty', ctx.commandPath, { field: 'username' });
  }
  let password: string;
  if (fromStdin) password = passwordFromStdin(await terminal.readAll(ctx.io.signal));
  else if (terminal.interactive) password = await terminal.readSecret('Password: ', ctx.io.signal);
  else {
    throw new UsageError(
      'stdin is not a terminal: pass the password on stdin with --password-stdin',
      ctx.commandPath,
      { field: 'password-stdin' },
    );
  }
  if (password === '') throw new UsageError('the password is empty', ctx.commandPath, { field: 'password' });

  const store = new FileCredentialStore(settings.authFile);
  const client = await registryClientFor(settings, store, ctx.logger);
  try {
    await login(
      registry,
      { username, password },
      { client, store, ...(ctx.io.signal ? { signal: ctx.io.signal } : {}) },
    );
  } finally {
    client.close();
  }
  ctx.io.stdout(`Login Succeeded (credentials saved in ${store.path})\n`);
  return 0;
}

async function runLogout(ctx: CommandContext): Promise<number> {
  const registry = registryArg(ctx);
  const store = new FileCredentialStore(imageSettingsOf(ctx).authFile);
  const name = registryDisplayName(registry);
  if (await logout(registry, store)) ctx.io.stdout(`Removing login credentials for ${name}\n`);
  else ctx.io.stderr(`Not logged in to ${name}\n`);
  return 0;
}

export const loginCommand: Command = {
  name: 'login',
  summary: 'log in to a registry; the credentials are saved once it accepts them',
  description:
    'Log in to a registry. The password is asked for on the terminal without echo, or read from stdin\n' +
    'with --password-stdin (for CI). The credentials are checked against the registry first, then saved\n' +
    'in $FLOTILLA_AUTH_FILE, else ~/.flotilla/auth.json (mode 0600).',
  args: { usage: 'REGISTRY', min: 1, max: 1 },
  flags: [
    { name: 'username', short: 'u', kind: 'string', placeholder: 'USER', description: 'the user name' },
    { name: 'password-stdin', kind: 'boolean', description: 'read the password from stdin' },
    ...imageFlags,
  ],
  examples: [
    'deploy login registry.lan:5000',
    'echo "$REGISTRY_PASSWORD" | deploy login -u ci --password-stdin registry.lan:5000',
  ],
  run: runLogin,
};

export const logoutCommand: Command = {
  name: 'logout',
  summary: 'forget the saved credentials of a registry',
  args: { usage: 'REGISTRY', min: 1, max: 1 },
  flags: imageFlags,
  examples: ['deploy logout registry.lan:5000'],
  run: runLogout,
};
