// Help text from the same description the parser uses, so the two cannot disagree.
import type { Command, FlagSpec } from './types.js';
import { helpFlag } from './parse.js';
import { listOf } from './values.js';

function flagColumn(spec: FlagSpec): string {
  const short = spec.short ? `-${spec.short}, ` : '    ';
  const placeholder = spec.kind === 'boolean' ? '' : ` ${spec.placeholder ?? spec.kind.toUpperCase()}`;
  return `  ${short}--${spec.name}${placeholder}`;
}

function flagText(spec: FlagSpec): string {
  let text = spec.description;
  if (spec.kind === 'enum' && spec.values && !text.includes(spec.values[0] ?? '')) {
    text += ` (${listOf(spec.values)})`;
  }
  const shown =
    spec.defaultText ??
    (spec.default === undefined || spec.default === false ? undefined : String(spec.default));
  if (shown !== undefined && shown !== '') text += ` (default ${shown})`;
  if (spec.repeatable) text += ' (repeatable)';
  return text;
}

function flagSection(title: string, specs: readonly FlagSpec[]): string[] {
  if (specs.length === 0) return [];
  const left = specs.map(flagColumn);
  const width = Math.max(...left.map((l) => l.length)) + 3;
  return ['', `${title}:`, ...specs.map((s, i) => `${(left[i] ?? '').padEnd(width)}${flagText(s)}`)];
}

export function renderHelp(path: readonly Command[], globalFlags: readonly FlagSpec[]): string {
  const cmd = path[path.length - 1];
  if (!cmd) return '';
  const name = path.map((c) => c.name).join(' ');
  const lines: string[] = [];
  lines.push(cmd.description ?? cmd.summary, '', 'Usage:');
  const subs = cmd.subcommands ?? [];
  if (cmd.run) {
    const args = cmd.args?.usage ? ` ${cmd.args.usage}` : '';
    lines.push(`  ${name}${args} [flags]`);
  }
  if (subs.length > 0) lines.push(`  ${name} COMMAND [flags]`);
  if (cmd.aliases && cmd.aliases.length > 0)
    lines.push('', `Aliases: ${[cmd.name, ...cmd.aliases].join(', ')}`);
  if (subs.length > 0) {
    const width = Math.max(...subs.map((s) => s.name.length)) + 3;
    lines.push('', 'Commands:', ...subs.map((s) => `  ${s.name.padEnd(width)}${s.summary}`));
  }
  lines.push(...flagSection('Flags', [...(cmd.flags ?? []), helpFlag]));
  lines.push(...flagSection('Global flags', globalFlags));
  if (cmd.examples && cmd.examples.length > 0) {
    lines.push('', 'Examples:', ...cmd.examples.map((e) => `  ${e}`));
  }
  if (subs.length > 0) lines.push('', `Run "${name} COMMAND --help" for more about a command.`);
  return lines.join('\n') + '\n';
}
