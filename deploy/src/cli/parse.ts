// argv -> the command to run, its flags and its arguments. Pure: everything the user
// can get wrong is found here and reported as a UsageError naming what would be valid.
import type { Command, FlagReader, FlagSpec, FlagValue } from './types.js';
import { UsageError } from './usage-error.js';
import { closest } from './suggest.js';
import { listOf, parseDuration, parseEnum, parseInteger, parsePort, type Parsed } from './values.js';

export interface Invocation {
  /** From the root command down to the one that runs. */
  path: Command[];
  commandPath: string;
  /** Flags the user passed, by long name, parsed. */
  given: Map<string, FlagValue>;
  args: string[];
  /** --help was asked for, or a command group was called bare. */
  help: boolean;
}

export const helpFlag: FlagSpec = {
  name: 'help',
  short: 'h',
  kind: 'boolean',
  description: 'show this help',
};

function pathName(path: readonly Command[]): string {
  return path.map((c) => c.name).join(' ');
}

function flagLabel(spec: FlagSpec): string {
  return spec.short ? `-${spec.short}/--${spec.name}` : `--${spec.name}`;
}

export function parseFlagValue(spec: FlagSpec, text: string): Parsed<FlagValue> {
  switch (spec.kind) {
    case 'string':
      return { ok: true, value: text };
    case 'boolean':
      if (['true', '1', 'yes'].includes(text)) return { ok: true, value: true };
      if (['false', '0', 'no'].includes(text)) return { ok: true, value: false };
      return { ok: false, reason: 'true or false' };
    case 'int':
      return parseInteger(text, spec.min ?? Number.MIN_SAFE_INTEGER, spec.max ?? Number.MAX_SAFE_INTEGER);
    case 'port':
      return parsePort(text);
    case 'duration':
      return parseDuration(text);
    case 'enum':
      return parseEnum(text, spec.values ?? []);
  }
}

function findFlag(specs: readonly FlagSpec[], name: string, short: boolean): FlagSpec | undefined {
  return specs.find((s) => (short ? s.short === name : s.name === name));
}

export function parseCommandLine(
  root: Command,
  globalFlags: readonly FlagSpec[],
  argv: readonly string[],
): Invocation {
  const path: Command[] = [root];
  const given = new Map<string, FlagValue>();
  const args: string[] = [];
  let help = false;
  let onlyArgs = false;
  const current = (): Command => path[path.length - 1] ?? root;

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? '';
    if (onlyArgs || token === '-' || !token.startsWith('-')) {
      const cmd = current();
      // run IMAGE CMD -x: after the first argument everything belongs to CMD (docker's rule).
      if (cmd.flagsBeforeArgs && cmd.run && !cmd.subcommands?.length) onlyArgs = true;
      if (!onlyArgs && args.length === 0 && cmd.subcommands && cmd.subcommands.length > 0) {
        const sub = cmd.subcommands.find((c) => c.name === token || c.aliases?.includes(token));
        if (sub) {
          path.push(sub);
          continue;
        }
        if (!cmd.run) {
          const names = cmd.subcommands.map((c) => c.name);
          const guess = closest(token, names);
          throw new UsageError(
            `unknown command "${token}" for "${pathName(path)}"` +
              (guess ? `; did you mean "${guess}"?` : '.') +
              ` Valid commands: ${listOf(names)}`,
            pathName(path),
            { value: token },
          );
        }
      }
      args.push(token);
      continue;
    }
    if (token === '--') {
      onlyArgs = true;
      continue;
    }

    const long = token.startsWith('--');
    const body = long ? token.slice(2) : token.slice(1);
    const eq = body.indexOf('=');
    let name: string;
    let inline: string | undefined;
    if (long) {
      name = eq >= 0 ? body.slice(0, eq) : body;
      inline = eq >= 0 ? body.slice(eq + 1) : undefined;
    } else {
      // -o wide, -owide and -o=wide all mean the same.
      name = body.slice(0, 1);
      const rest = body.slice(1);
      inline = rest === '' ? undefined : rest.startsWith('=') ? rest.slice(1) : rest;
    }
    if ((long && name === 'help') || (!long && name === 'h')) {
      help = true;
      continue;
    }
    const specs = [...(current().flags ?? []), ...globalFlags];
    let spec = findFlag(specs, name, !long);
    if (!spec) {
      const valid = [...specs, helpFlag].map((s) => `--${s.name}`);
      const guess = long
        ? closest(
            name,
            valid.map((v) => v.slice(2)),
          )
        : undefined;
      throw new UsageError(
        `unknown flag ${long ? '--' : '-'}${name} for "${pathName(path)}"` +
          (guess ? `; did you mean --${guess}?` : '.') +
          ` Valid flags: ${valid.join(', ')}`,
        pathName(path),
        { field: name },
      );
    }
    if (spec.kind === 'boolean' && !long && inline !== undefined && !body.slice(1).startsWith('=')) {
      // -it, -dit: short boolean flags written together; the last may take a value (-dp 80:80).
      const letters = [name, ...inline];
      let valueFlag: { spec: FlagSpec; rest: string } | undefined;
      for (const [index, letter] of letters.entries()) {
        const each = findFlag(specs, letter, true);
        if (!each) {
          throw new UsageError(
            `invalid flag group -${body} for "${pathName(path)}": -${letter} is not a flag`,
            pathName(path),
            { field: letter, value: token },
          );
        }
        if (each.kind !== 'boolean') {
          valueFlag = { spec: each, rest: letters.slice(index + 1).join('') };
          break;
        }
        given.set(each.name, true);
      }
      if (!valueFlag) continue;
      spec = valueFlag.spec;
      inline = valueFlag.rest === '' ? undefined : valueFlag.rest.replace(/^=/, '');
    }
    let text: string | undefined = inline;
    if (spec.kind === 'boolean') {
      text = inline ?? 'true';
    } else if (text === undefined) {
      text = argv[i + 1];
      i++;
      if (text === undefined) {
        const parsed = parseFlagValue(spec, '');
        const what = parsed.ok ? 'a value' : parsed.reason;
        throw new UsageError(`flag ${flagLabel(spec)} needs a value: ${what}`, pathName(path), {
          field: spec.name,
        });
      }
    }
    const parsed = parseFlagValue(spec, text);
    if (!parsed.ok) {
      throw new UsageError(
        `invalid value "${text}" for flag ${flagLabel(spec)}: must be ${parsed.reason}`,
        pathName(path),
        { field: spec.name, value: text },
      );
    }
    if (spec.repeatable && typeof parsed.value === 'string') {
      const before = given.get(spec.name);
      given.set(spec.name, [...(Array.isArray(before) ? before : []), parsed.value]);
    } else given.set(spec.name, parsed.value);
  }

  const cmd = current();
  const commandPath = pathName(path);
  if (help) return { path, commandPath, given, args, help: true };
  if (!cmd.run) {
    // The root alone shows help; a bare group such as "deploy token" is a mistake.
    if (path.length === 1) return { path, commandPath, given, args, help: true };
    const names = (cmd.subcommands ?? []).map((c) => c.name);
    throw new UsageError(`"${commandPath}" needs a subcommand: ${listOf(names)}`, commandPath);
  }
  const spec = cmd.args ?? { usage: '', min: 0, max: 0 };
  if (args.length > spec.max) {
    const extra = args.slice(spec.max).join(' ');
    throw new UsageError(
      spec.max === 0
        ? `"${commandPath}" takes no arguments, got "${extra}"`
        : `too many arguments for "${commandPath}": expected ${spec.usage}, got extra "${extra}"`,
      commandPath,
      { value: extra },
    );
  }
  if (args.length < spec.min) {
    throw new UsageError(`"${commandPath}" needs ${spec.usage}`, commandPath);
  }
  return { path, commandPath, given, args, help: false };
}

/** Reads flags with their defaults; specs are the command's and the global ones. */
export function flagReader(specs: readonly FlagSpec[], given: ReadonlyMap<string, FlagValue>): FlagReader {
  const value = (name: string): FlagValue | undefined => {
    if (given.has(name)) return given.get(name);
    const spec = specs.find((s) => s.name === name);
    if (!spec) throw new Error(`flag --${name} is not declared`);
    if (spec.default === undefined) return undefined;
    if (spec.kind === 'duration' && typeof spec.default === 'string') {
      const parsed = parseDuration(spec.default);
      if (!parsed.ok) throw new Error(`default of --${name} is not a duration`);
      return parsed.value;
    }
    return spec.default;
  };
  return {
    string: (name) => {
      const v = value(name);
      if (Array.isArray(v)) return v[v.length - 1];
      return typeof v === 'string' ? v : undefined;
    },
    strings: (name) => {
      const v = value(name);
      if (Array.isArray(v)) return [...v];
      return typeof v === 'string' ? [v] : [];
    },
    number: (name) => {
      const v = value(name);
      return typeof v === 'number' ? v : undefined;
    },
    boolean: (name) => value(name) === true,
    given: (name) => given.has(name),
  };
}
