// The command framework's contract: a tree of commands, each declaring its flags and
// arguments, so that parsing, validation and help come from one description.
import type { Logger, LogLevel } from '@flotilla/common';

/** Where a command reads and writes; tests pass their own to capture output. */
export interface CliIo {
  /** User-facing output, written as given (include the newline). */
  stdout: (text: string) => void;
  /** Progress, warnings and errors. */
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on Ctrl-C: long commands (up, down) clean up and return. */
  signal?: AbortSignal;
  /** The process's own streams, for commands that pass bytes or a terminal through (run, exec). */
  stdio?: ProcessStdio;
}

export interface ProcessStdio {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export type FlagKind = 'string' | 'boolean' | 'int' | 'port' | 'duration' | 'enum';

export interface FlagSpec {
  /** Long name without dashes: "output" for --output. */
  name: string;
  /** One letter without the dash: "o" for -o. */
  short?: string;
  kind: FlagKind;
  description: string;
  /** The value's name in help: --output FORMAT. */
  placeholder?: string;
  /** The allowed values of an enum flag. */
  values?: readonly string[];
  /** Bounds of an int flag, inclusive. */
  min?: number;
  max?: number;
  /** Used when the flag is absent; a duration default is written as text ("90s"). */
  default?: string | number | boolean;
  /** How help shows a default computed at run time, e.g. "~/.flotilla/local". */
  defaultText?: string;
  /** A string flag that may be given more than once (-t a -t b); read with FlagReader.strings. */
  repeatable?: boolean;
}

/** Parsed values: durations in milliseconds, ints and ports as numbers; repeatable flags as lists. */
export type FlagValue = string | number | boolean | string[];

export interface ArgsSpec {
  /** How help shows the positional arguments, e.g. "[NAME]". */
  usage: string;
  min: number;
  max: number;
}

export interface GlobalOptions {
  /** The client config: --config, else $FLOTILLA_CONFIG, else ~/.flotilla/config.yaml. */
  configPath: string;
  /** True when --config or $FLOTILLA_CONFIG chose the path. */
  configChosen: boolean;
  logLevel: LogLevel;
}

export interface CommandContext {
  io: CliIo;
  flags: FlagReader;
  args: string[];
  global: GlobalOptions;
  logger: Logger;
  /** "deploy get nodes": for messages that point at help. */
  commandPath: string;
}

export interface FlagReader {
  string(name: string): string | undefined;
  number(name: string): number | undefined;
  boolean(name: string): boolean;
  /** Every value of a repeatable flag, in the order given (a single value for any other). */
  strings(name: string): string[];
  /** True when the user passed the flag (as opposed to its default). */
  given(name: string): boolean;
}

export interface Command {
  name: string;
  aliases?: readonly string[];
  /** One line, shown in the parent's list of commands. */
  summary: string;
  /** Paragraphs shown in the command's own help. */
  description?: string;
  args?: ArgsSpec;
  flags?: readonly FlagSpec[];
  examples?: readonly string[];
  subcommands?: readonly Command[];
  /** Flags end at the first argument, the rest are arguments: `run IMAGE CMD -x` (docker's rule). */
  flagsBeforeArgs?: boolean;
  /** Returns the exit code. A command with subcommands and no run needs a subcommand. */
  run?: (ctx: CommandContext) => Promise<number>;
}

export const exitCodes = { ok: 0, failure: 1, usage: 2 } as const;
