// Dockerfile text → stages of typed instructions. Pure: nothing is substituted here (that
// needs the build args and each stage's scope, so the planner does it); this layer only
// checks the shape of every instruction and names the line of anything wrong.
import type { FlotillaError } from '@flotilla/common';
import { dockerfileError } from './errors.js';
import { splitLines, type LogicalLine } from './lines.js';
import type {
  ArgInstruction,
  CommandForm,
  CopyInstruction,
  Dockerfile,
  EscapeChar,
  FromInstruction,
  Instruction,
  KeyValue,
  Stage,
} from './types.js';
import { extractFlags, parseJsonArray, splitWords, suggest } from './words.js';

export interface DockerfileParseOptions {
  /** Name used in messages; default "Dockerfile". */
  filename?: string;
}

const supported = [
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'LABEL',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'WORKDIR',
] as const;
type Keyword = (typeof supported)[number];

const refused: Record<string, string> = {
  HEALTHCHECK:
    'HEALTHCHECK is not supported: declare a readinessProbe or livenessProbe on the container instead',
  ONBUILD: 'ONBUILD is not supported',
  VOLUME: 'VOLUME is not supported: mount volumes through the container spec instead',
  MAINTAINER: 'MAINTAINER is not supported (Docker deprecated it): use LABEL maintainer="..." instead',
};

/** The flags each instruction takes; every one takes a value. */
const flagsOf: Partial<Record<Keyword, readonly string[]>> = {
  FROM: ['platform'],
  COPY: ['from', 'chown', 'chmod'],
  ADD: ['chown', 'chmod'],
};

const stageNamePattern = /^[a-z][a-z0-9._-]*$/;
const heredocPattern = /(^|\s)<<-?(["']?)[A-Za-z_][A-Za-z0-9_]*\2(\s|$)/;

export function parseDockerfile(text: string, options: DockerfileParseOptions = {}): Dockerfile {
  const filename = options.filename ?? 'Dockerfile';
  const { escape, lines } = splitLines(text, filename);
  const globalArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  const names = new Map<string, number>();

  for (const logical of lines) {
    const instruction = parseInstruction(logical, escape, filename);
    if (instruction.kind === 'FROM') {
      if (instruction.name !== undefined) {
        const earlier = names.get(instruction.name);
        if (earlier !== undefined) {
          throw dockerfileError(
            filename,
            logical.line,
            `duplicate stage name "${instruction.name}" (first used on line ${earlier})`,
            instruction.name,
          );
        }
        names.set(instruction.name, logical.line);
      }
      stages.push({
        index: stages.length,
        ...(instruction.name !== undefined ? { name: instruction.name } : {}),
        from: instruction,
        instructions: [],
      });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (stage) stage.instructions.push(instruction);
    else if (instruction.kind === 'ARG') globalArgs.push(instruction);
    else {
      throw dockerfileError(
        filename,
        logical.line,
        `${instruction.kind} before the first FROM: only ARG may come before FROM`,
        logical.text,
      );
    }
  }
  if (stages.length === 0) {
    const last = lines[lines.length - 1];
    throw dockerfileError(
      filename,
      last ? last.line : 1,
      lines.length === 0
        ? 'the Dockerfile is empty: it needs at least a FROM instruction'
        : 'no FROM instruction: a build starts with FROM image (only ARG may come before it)',
    );
  }
  return { filename, escape, globalArgs, stages };
}

function parseInstruction(logical: LogicalLine, escape: EscapeChar, filename: string): Instruction {
  const match = /^(\S+)\s*([\s\S]*)$/.exec(logical.text);
  const word = match?.[1] ?? '';
  const keyword = word.toUpperCase();
  const err = (message: string, value: unknown = logical.text): FlotillaError =>
    dockerfileError(filename, logical.line, message, value);
  const refusal = refused[keyword];
  if (refusal !== undefined) throw err(refusal, keyword);
  if (!(supported as readonly string[]).includes(keyword)) {
    const guess = suggest(keyword, supported);
    throw err(
      guess !== undefined
        ? `unknown instruction ${word} (did you mean ${guess}?)`
        : `unknown instruction ${word}: valid are ${supported.join(', ')}`,
      word,
    );
  }
  const kw = keyword as Keyword;
  const base = { line: logical.line, endLine: logical.endLine, source: logical.text };

  const { flags: rawFlags, rest } = extractFlags(match?.[2] ?? '');
  const flags = new Map<string, string>();
  const allowed = flagsOf[kw] ?? [];
  for (const raw of rawFlags) {
    const [name = '', ...valueParts] = raw.slice(2).split('=');
    const value = valueParts.join('=');
    if (!allowed.includes(name)) {
      const why =
        kw === 'RUN' && ['mount', 'network', 'security'].includes(name)
          ? ' (BuildKit extensions are not supported)'
          : '';
      throw err(
        `unknown flag --${name} for ${kw}${why}: ${allowed.length ? `valid are ${allowed.map((f) => `--${f}`).join(', ')}` : `${kw} takes no flags`}`,
        raw,
      );
    }
    if (valueParts.length === 0 || value === '')
      throw err(`flag --${name} for ${kw} needs a value: --${name}=VALUE`, raw);
    if (flags.has(name)) throw err(`flag --${name} given twice`, raw);
    flags.set(name, value);
  }
  const args = rest.trim();

  switch (kw) {
    case 'FROM': {
      const words = splitWords(args, escape);
      if (words.length !== 1 && !(words.length === 3 && words[1]?.toUpperCase() === 'AS')) {
        throw err(
          'FROM takes an image and an optional stage name: FROM [--platform=PLATFORM] IMAGE [AS NAME]',
        );
      }
      const from: FromInstruction = { ...base, kind: 'FROM', image: words[0] ?? '' };
      if (words.length === 3) {
        const name = (words[2] ?? '').toLowerCase();
        if (!stageNamePattern.test(name)) {
          throw err(
            `invalid stage name "${words[2]}": it starts with a letter and has only letters, digits, "-", "_" and "."`,
            words[2],
          );
        }
        from.name = name;
      }
      const platform = flags.get('platform');
      if (platform !== undefined) from.platform = platform;
      return from;
    }
    case 'RUN':
    case 'CMD':
    case 'ENTRYPOINT': {
      if (args === '')
        throw err(`${kw} needs a command: ${kw} ["executable", "arg"...] or ${kw} command line`);
      if (kw === 'RUN' && heredocPattern.test(args) && parseJsonArray(args) === undefined) {
        throw err(
          'heredocs (<<EOF) are not supported: continue long commands with \\ at the end of each line',
        );
      }
      const command = commandForm(args);
      return kw === 'RUN' ? { ...base, kind: 'RUN', command } : { ...base, kind: kw, command };
    }
    case 'SHELL': {
      const shell = parseJsonArray(args);
      if (shell === undefined || shell.length === 0) {
        throw err(
          'SHELL takes a JSON array: SHELL ["executable", "parameters"], e.g. SHELL ["/bin/sh", "-c"]',
        );
      }
      return { ...base, kind: 'SHELL', shell };
    }
    case 'COPY':
    case 'ADD': {
      const words = parseJsonArray(args) ?? splitWords(args, escape);
      if (words.some((w) => heredocPattern.test(w))) {
        throw err(`heredocs (<<EOF) are not supported in ${kw}: put the file in the build context`);
      }
      if (words.length < 2) throw err(`${kw} needs at least one source and a destination: ${kw} SRC... DEST`);
      const copy: CopyInstruction = {
        ...base,
        kind: kw,
        sources: words.slice(0, -1),
        dest: words[words.length - 1] ?? '',
      };
      const from = flags.get('from');
      const chown = flags.get('chown');
      const chmod = flags.get('chmod');
      if (from !== undefined) copy.from = from;
      if (chown !== undefined) copy.chown = chown;
      if (chmod !== undefined) copy.chmod = chmod;
      return copy;
    }
    case 'ENV':
    case 'LABEL':
      return { ...base, kind: kw, pairs: nameValues(kw, args, escape, err) };
    case 'ARG': {
      const words = splitWords(args, escape);
      if (words.length === 0) throw err('ARG needs a name: ARG NAME[=DEFAULT]');
      return {
        ...base,
        kind: 'ARG',
        args: words.map((w) => {
          const eq = w.indexOf('=');
          const name = eq < 0 ? w : w.slice(0, eq);
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
            throw err(`invalid ARG name "${name}": letters, digits and "_", not starting with a digit`, w);
          }
          return eq < 0 ? { name } : { name, default: w.slice(eq + 1) };
        }),
      };
    }
    case 'WORKDIR':
    case 'USER':
    case 'STOPSIGNAL': {
      const usage = { WORKDIR: 'WORKDIR /path', USER: 'USER user[:group]', STOPSIGNAL: 'STOPSIGNAL SIGTERM' }[
        kw
      ];
      if (args === '') throw err(`${kw} needs a value: ${usage}`);
      return { ...base, kind: kw, value: args };
    }
    case 'EXPOSE': {
      const ports = splitWords(args, escape);
      if (ports.length === 0) throw err('EXPOSE needs at least one port: EXPOSE 8080 8443/tcp 53/udp');
      return { ...base, kind: 'EXPOSE', ports };
    }
  }
}

/** Exec form when the arguments are a JSON array of strings; anything else is a shell command. */
function commandForm(args: string): CommandForm {
  const argv = parseJsonArray(args);
  return argv !== undefined ? { form: 'exec', argv } : { form: 'shell', command: args };
}

/**
 * ENV and LABEL: `k=v k2="v 2"`, or the legacy `k rest of line` when the first word has
 * no "=" (BuildKit's parseNameVal).
 */
function nameValues(
  kw: 'ENV' | 'LABEL',
  args: string,
  escape: EscapeChar,
  err: (message: string, value?: unknown) => FlotillaError,
): KeyValue[] {
  const words = splitWords(args, escape);
  const first = words[0];
  if (first === undefined)
    throw err(`${kw} needs at least one key=value pair: ${kw} key=value [key2=value2...]`);
  if (!first.includes('=')) {
    const legacy = /^(\S+)\s+([\s\S]+)$/.exec(args);
    if (!legacy)
      throw err(`${kw} ${first} has no value: ${kw} key=value (or the legacy ${kw} key value)`, args);
    return [{ key: legacy[1] ?? '', value: legacy[2] ?? '' }];
  }
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq < 0) throw err(`${kw}: no "=" in ${JSON.stringify(word)}; each pair is key=value`, word);
    if (eq === 0) throw err(`${kw}: empty key in ${JSON.stringify(word)}; each pair is key=value`, word);
    return { key: word.slice(0, eq), value: word.slice(eq + 1) };
  });
}
