// The Go template subset people use with `docker inspect --format`: {{.A.B}}, {{.}},
// {{json .A}}, {{index .Map "key"}}, {{range .List}}…{{else}}…{{end}}, {{if …}}/{{with …}},
// pipes ({{.A | json}}), {{- trim -}} markers, and docker's join/upper/lower/len. Anything
// else is an error that names what is not supported. Pure.

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

type Operand =
  | { kind: 'field'; path: string[]; pos: number }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'nil' }
  | { kind: 'ident'; name: string; pos: number };

type Pipeline = { commands: Operand[][]; pos: number };

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: Pipeline }
  | { kind: 'range' | 'if' | 'with'; pipeline: Pipeline; body: Node[]; otherwise: Node[] };

const functions = ['json', 'index', 'len', 'join', 'upper', 'lower', 'print', 'println'] as const;
const supported = `{{.Field.Path}}, {{.}}, {{json …}}, {{index … "key"}}, {{range …}}…{{end}}, {{if …}}, {{with …}}, {{else}}, pipes and ${functions.join(', ')}`;

interface Token {
  text: string;
  /** Column (1-based) of the action's start in the template. */
  pos: number;
  action: boolean;
}

function tokenize(template: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{{', i);
    if (open < 0) {
      tokens.push({ text: template.slice(i), pos: i + 1, action: false });
      break;
    }
    let text = template.slice(i, open);
    let start = open + 2;
    if (template.startsWith('{{- ', open) || template.startsWith('{{-\t', open)) {
      text = text.replace(/\s+$/, '');
      start++;
    }
    if (text !== '') tokens.push({ text, pos: i + 1, action: false });
    const close = findClose(template, start);
    if (close < 0)
      throw new TemplateError(`template: column ${open + 1}: unclosed action "{{" (missing "}}")`);
    let body = template.slice(start, close);
    let next = close + 2;
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      const rest = template.slice(next);
      next += rest.length - rest.replace(/^\s+/, '').length;
    }
    tokens.push({ text: body.trim(), pos: open + 1, action: true });
    i = next;
  }
  return tokens;
}

/** The "}}" that closes an action, skipping string literals. */
function findClose(template: string, from: number): number {
  let quote: string | undefined;
  for (let i = from; i < template.length; i++) {
    const c = template[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === '`') quote = c;
    else if (c === '}' && template[i + 1] === '}') return i;
  }
  return -1;
}

function lexOperands(text: string, pos: number): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] ?? '';
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' && c === '"' ? 2 : 1;
      if (j >= text.length)
        throw new TemplateError(`template: column ${pos}: unterminated string ${text.slice(i)}`);
      words.push(text.slice(i, j + 1));
      i = j + 1;
      continue;
    }
    if (c === '|' || c === '(' || c === ')') {
      words.push(c);
      i++;
      continue;
    }
    let j = i;
    while (j < text.length && !/[\s|()]/.test(text[j] ?? '')) j++;
    words.push(text.slice(i, j));
    i = j;
  }
  return words;
}

function parseOperand(word: string, pos: number): Operand {
  if (word === '.') return { kind: 'field', path: [], pos };
  if (word.startsWith('.')) {
    const path = word.slice(1).split('.');
    if (path.some((p) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p))) {
      throw new TemplateError(`template: column ${pos}: bad field name "${word}"`);
    }
    return { kind: 'field', path, pos };
  }
  if (word.startsWith('"')) {
    try {
      return { kind: 'string', value: JSON.parse(word) as string };
    } catch {
      throw new TemplateError(`template: column ${pos}: bad string ${word}`);
    }
  }
  if (word.startsWith('`')) return { kind: 'string', value: word.slice(1, -1) };
  if (/^-?\d+(\.\d+)?$/.test(word)) return { kind: 'number', value: Number(word) };
  if (word === 'true' || word === 'false') return { kind: 'bool', value: word === 'true' };
  if (word === 'nil') return { kind: 'nil' };
  if (word.startsWith('$')) {
    throw new TemplateError(
      `template: column ${pos}: variables such as "${word}" are not supported; supported: ${supported}`,
    );
  }
  if (word === '(' || word === ')') {
    throw new TemplateError(
      `template: column ${pos}: parentheses are not supported; supported: ${supported}`,
    );
  }
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(word)) {
    if (!(functions as readonly string[]).includes(word)) {
      throw new TemplateError(
        `template: column ${pos}: function "${word}" is not supported; supported: ${functions.join(', ')}`,
      );
    }
    return { kind: 'ident', name: word, pos };
  }
  throw new TemplateError(`template: column ${pos}: unexpected "${word}" in action`);
}

function parsePipeline(text: string, pos: number): Pipeline {
  const words = lexOperands(text, pos);
  if (words.length === 0) throw new TemplateError(`template: column ${pos}: missing value in action`);
  const commands: Operand[][] = [[]];
  for (const word of words) {
    if (word === '|') {
      commands.push([]);
      continue;
    }
    commands[commands.length - 1]?.push(parseOperand(word, pos));
  }
  if (commands.some((c) => c.length === 0)) {
    throw new TemplateError(`template: column ${pos}: missing command around "|"`);
  }
  return { commands, pos };
}

const blockKeywords = ['range', 'if', 'with'] as const;
const unsupportedKeywords = ['define', 'template', 'block', 'break', 'continue'];

export interface Template {
  nodes: Node[];
}

export function parseTemplate(template: string): Template {
  const tokens = tokenize(template);
  let i = 0;
  const parseList = (closers: readonly string[]): { nodes: Node[]; closer: string; pos: number } => {
    const nodes: Node[] = [];
    while (i < tokens.length) {
      const token = tokens[i++] as Token;
      if (!token.action) {
        nodes.push({ kind: 'text', text: token.text });
        continue;
      }
      const text = token.text;
      if (text.startsWith('/*')) continue;
      const keyword = /^([a-z]+)\b/.exec(text)?.[1] ?? '';
      if (keyword === 'end' || keyword === 'else') {
        if (!closers.includes(keyword)) {
          throw new TemplateError(`template: column ${token.pos}: unexpected {{${keyword}}}`);
        }
        if (keyword === 'else' && text !== 'else') {
          throw new TemplateError(
            `template: column ${token.pos}: "{{${text}}}" is not supported; use {{else}}{{if …}}…{{end}}{{end}}`,
          );
        }
        return { nodes, closer: keyword, pos: token.pos };
      }
      if (unsupportedKeywords.includes(keyword)) {
        throw new TemplateError(
          `template: column ${token.pos}: the action "${keyword}" is not supported; supported: ${supported}`,
        );
      }
      if ((blockKeywords as readonly string[]).includes(keyword)) {
        const rest = text.slice(keyword.length).trim();
        if (rest === '')
          throw new TemplateError(`template: column ${token.pos}: missing value for ${keyword}`);
        const pipeline = parsePipeline(rest, token.pos);
        const body = parseList(['end', 'else']);
        let otherwise: Node[] = [];
        if (body.closer === 'else') otherwise = parseList(['end']).nodes;
        nodes.push({ kind: keyword as 'range' | 'if' | 'with', pipeline, body: body.nodes, otherwise });
        continue;
      }
      nodes.push({ kind: 'action', pipeline: parsePipeline(text, token.pos) });
    }
    if (closers.length > 0) throw new TemplateError('template: unexpected end: an {{end}} is missing');
    return { nodes, closer: '', pos: 0 };
  };
  return { nodes: parseList([]).nodes };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function truthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isObject(value)) return Object.keys(value).length > 0;
  return true;
}

/** A value as Go's text/template prints it. */
export function goString(value: unknown): string {
  if (value === undefined || value === null) return '<no value>';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(goInner).join(' ')}]`;
  if (isObject(value)) {
    return `map[${Object.keys(value)
      .sort()
      .map((k) => `${k}:${goInner(value[k])}`)
      .join(' ')}]`;
  }
  if (typeof value === 'bigint') return value.toString();
  return typeof value === 'function' ? '<function>' : '<unknown>';
}

function goInner(value: unknown): string {
  return value === undefined || value === null ? '<nil>' : goString(value);
}

function lookup(dot: unknown, path: readonly string[], pos: number): unknown {
  let value = dot;
  for (const [index, key] of path.entries()) {
    if (!isObject(value)) {
      const at = path.slice(0, index).join('.');
      throw new TemplateError(
        `template: column ${pos}: cannot read field "${key}" of ${at ? `.${at}` : '.'}: it is ${value === null || value === undefined ? 'empty' : Array.isArray(value) ? 'a list' : `a ${typeof value}`}`,
      );
    }
    if (!(key in value)) {
      // Docker's objects are structs: a misspelt field is an error; maps (labels) give <no value>.
      const structLike = Object.keys(value).some((k) => /^[A-Z]/.test(k));
      if (structLike && /^[A-Z]/.test(key)) {
        throw new TemplateError(
          `template: column ${pos}: no field "${key}" in .${path.slice(0, index).join('.')}; it has ${Object.keys(value).join(', ')}`,
        );
      }
      return undefined;
    }
    value = value[key];
  }
  return value;
}

function callFunction(name: string, args: unknown[], pos: number): unknown {
  const need = (n: number): void => {
    if (args.length !== n) {
      throw new TemplateError(
        `template: column ${pos}: ${name} takes ${n} argument${n === 1 ? '' : 's'}, got ${args.length}`,
      );
    }
  };
  switch (name) {
    case 'json':
      need(1);
      return JSON.stringify(args[0] ?? null);
    case 'len': {
      need(1);
      const v = args[0];
      if (typeof v === 'string' || Array.isArray(v)) return v.length;
      if (isObject(v)) return Object.keys(v).length;
      throw new TemplateError(`template: column ${pos}: len of ${goString(v)}: not a string, list or map`);
    }
    case 'index': {
      if (args.length < 2)
        throw new TemplateError(`template: column ${pos}: index takes a value and at least one key`);
      let v = args[0];
      for (const key of args.slice(1)) {
        if (Array.isArray(v)) {
          if (typeof key !== 'number' || !Number.isInteger(key) || key < 0 || key >= v.length) {
            throw new TemplateError(
              `template: column ${pos}: index ${goString(key)} out of range of a list of ${v.length}`,
            );
          }
          v = v[key];
        } else if (isObject(v)) {
          v = v[String(key)] ?? '';
        } else {
          throw new TemplateError(
            `template: column ${pos}: cannot index ${goString(v)} with ${goString(key)}`,
          );
        }
      }
      return v;
    }
    case 'join': {
      need(2);
      const [list, sep] = args;
      if (!Array.isArray(list)) throw new TemplateError(`template: column ${pos}: join needs a list first`);
      return list.map(goString).join(String(sep));
    }
    case 'upper':
      need(1);
      return goString(args[0]).toUpperCase();
    case 'lower':
      need(1);
      return goString(args[0]).toLowerCase();
    case 'print':
      return args.map(goString).join('');
    case 'println':
      return `${args.map(goString).join(' ')}\n`;
    default:
      throw new TemplateError(`template: column ${pos}: function "${name}" is not supported`);
  }
}

function operandValue(op: Operand, dot: unknown): unknown {
  switch (op.kind) {
    case 'field':
      return lookup(dot, op.path, op.pos);
    case 'string':
    case 'number':
    case 'bool':
      return op.value;
    case 'nil':
      return null;
    case 'ident':
      return callFunction(op.name, [], op.pos);
  }
}

function evalPipeline(pipeline: Pipeline, dot: unknown): unknown {
  let piped: { value: unknown } | undefined;
  for (const command of pipeline.commands) {
    const [head, ...rest] = command;
    if (!head) continue;
    if (head.kind === 'ident') {
      const args = rest.map((op) => operandValue(op, dot));
      if (piped) args.push(piped.value);
      piped = { value: callFunction(head.name, args, head.pos) };
    } else {
      if (rest.length > 0 || piped) {
        throw new TemplateError(
          `template: column ${pipeline.pos}: only a function can take arguments or a piped value`,
        );
      }
      piped = { value: operandValue(head, dot) };
    }
  }
  return piped?.value;
}

function execNodes(nodes: readonly Node[], dot: unknown, out: string[]): void {
  for (const node of nodes) {
    switch (node.kind) {
      case 'text':
        out.push(node.text);
        break;
      case 'action':
        out.push(goString(evalPipeline(node.pipeline, dot)));
        break;
      case 'if':
      case 'with': {
        const value = evalPipeline(node.pipeline, dot);
        if (truthy(value)) execNodes(node.body, node.kind === 'with' ? value : dot, out);
        else execNodes(node.otherwise, dot, out);
        break;
      }
      case 'range': {
        const value = evalPipeline(node.pipeline, dot);
        let items: unknown[];
        if (Array.isArray(value)) items = value;
        else if (isObject(value))
          items = Object.keys(value)
            .sort()
            .map((k) => value[k]);
        else if (value === undefined || value === null) items = [];
        else
          throw new TemplateError(
            `template: column ${node.pipeline.pos}: range over ${goString(value)}: not a list or map`,
          );
        if (items.length === 0) execNodes(node.otherwise, dot, out);
        for (const item of items) execNodes(node.body, item, out);
        break;
      }
    }
  }
}

export function executeTemplate(template: Template, data: unknown): string {
  const out: string[] = [];
  execNodes(template.nodes, data, out);
  return out.join('');
}

/** Parses and runs: the text for one object (docker adds the newline after it). */
export function renderTemplate(template: string, data: unknown): string {
  return executeTemplate(parseTemplate(template), data);
}
