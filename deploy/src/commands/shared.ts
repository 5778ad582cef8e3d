// Flags and helpers that several commands share.
import { resolve } from 'node:path';
import type { CommandContext, FlagSpec } from '../cli/types.js';
import { homeDir } from '../cli/run.js';
import { defaultDataDir, resolveDataDir } from '../local/layout.js';
import { outputFormats } from '../format/output.js';

export const dataDirFlag: FlagSpec = {
  name: 'data-dir',
  kind: 'string',
  placeholder: 'DIR',
  description: 'the local cluster data directory',
  defaultText: '~/.flotilla/local',
};

export const outputFlag: FlagSpec = {
  name: 'output',
  short: 'o',
  kind: 'enum',
  placeholder: 'FORMAT',
  values: outputFormats,
  description: 'output format: wide (more columns), json or yaml (full objects)',
};

export function dataDirOf(ctx: CommandContext): string {
  const value = ctx.flags.string('data-dir');
  return resolveDataDir(value === '' ? undefined : value, ctx.io.cwd, homeDir(ctx.io.env));
}

/** "--data-dir DIR" when it is not the default, for commands we suggest. */
export function dataDirHint(ctx: CommandContext, dataDir: string): string {
  return dataDir === defaultDataDir(homeDir(ctx.io.env)) ? '' : `--data-dir ${dataDir}`;
}

/** "--config PATH" when neither the default nor $FLOTILLA_CONFIG chose it. */
export function configHint(ctx: CommandContext): string {
  if (!ctx.flags.given('config')) return '';
  const fromEnv = ctx.io.env.FLOTILLA_CONFIG;
  return fromEnv && resolve(ctx.io.cwd, fromEnv) === resolve(ctx.io.cwd, ctx.global.configPath)
    ? ''
    : `--config ${ctx.global.configPath}`;
}
