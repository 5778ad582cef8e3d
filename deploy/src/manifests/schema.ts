// The strict structural check of one manifest document against @kubernetes/client-node's
// models (each model's attributeTypeMap), converting it on the way to the JSON the proto's
// fromJSON reads: IntOrString and quantities become strings, nulls are unset, status is
// left out (the API ignores it on apply). Pure given the model types: every problem is
// collected with its field path, the value and what would be valid.
import { FieldProblems } from '@flotilla/common';
import { closest } from '../cli/suggest.js';
import { manifestKinds, kinds, type KindInfo } from '../objects/kinds.js';
import { quantityFields, supportedFields } from './supported.js';

/** One field of a client-node model, as its generated attributeTypeMap lists it. */
export interface ModelAttribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}

/** The client-node models by name ("V1DeploymentSpec"); undefined for an unknown one. */
export interface ModelTypes {
  attributes(model: string): readonly ModelAttribute[] | undefined;
}

export interface CheckedDocument {
  /** Set when the document named a supported kind. */
  info?: KindInfo;
  /** "Deployment/web", "Deployment", or "" when the document has no kind. */
  label: string;
  /** The proto JSON of the object (no status), when there were no problems. */
  json?: Record<string, unknown>;
  problems: FieldProblems;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** "Deployment" for V1Deployment, "PodSpec" for V1PodSpec, as Kubernetes' docs name them. */
export function modelLabel(model: string): string {
  return model.replace(/^(Core)?V\d+((alpha|beta)\d+)?/, '');
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return `a ${typeof value}`;
}

function childPath(path: string, key: string): string {
  const plain = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key);
  if (!path) return key;
  return plain ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

const quantityPattern = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[mkMGTPE])?$/;

interface Walk {
  types: ModelTypes;
  problems: FieldProblems;
}

interface Slot {
  /** The model the field belongs to, for quantity fields. */
  model?: string;
  field?: string;
  /** Under status: checked against Kubernetes only, not against what Flotilla supports. */
  inStatus: boolean;
}

function isQuantitySlot(slot: Slot): boolean {
  return !!slot.model && !!slot.field && (quantityFields[slot.model] ?? []).includes(slot.field);
}

const arrayType = /^Array<(.+)>$/;
const mapType = /^\{ \[key: string\]: (.+); \}$/;

function checkInteger(value: number, format: string, path: string, walk: Walk): boolean {
  const [min, max] =
    format === 'int32' ? [-(2 ** 31), 2 ** 31 - 1] : [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
  if (value < min || value > max) {
    walk.problems.add(path, value, `is out of range; expected an integer from ${min} to ${max}`);
    return false;
  }
  return true;
}

/** Checks value against type; returns what the proto JSON holds there (undefined: unset). */
function check(value: unknown, type: string, format: string, path: string, walk: Walk, slot: Slot): unknown {
  if (value === null || value === undefined) return undefined;
  const wrong = (expected: string): undefined => {
    walk.problems.add(path, value, `is ${describeValue(value)}; expected ${expected}`);
    return undefined;
  };
  const list = arrayType.exec(type);
  if (list) {
    if (!Array.isArray(value)) return wrong(`a list`);
    return value.flatMap((item: unknown, i) => {
      if (item === null || item === undefined) {
        walk.problems.add(`${path}[${i}]`, null, 'is an empty item; remove it or give its fields');
        return [];
      }
      return [check(item, list[1] ?? 'any', format, `${path}[${i}]`, walk, { inStatus: slot.inStatus })];
    });
  }
  const map = mapType.exec(type);
  if (map) {
    if (!isObject(value)) return wrong('an object of key: value pairs');
    const out: Json = {};
    for (const [key, item] of Object.entries(value)) {
      const converted = check(item, map[1] ?? 'any', format, childPath(path, key), walk, slot);
      if (converted !== undefined) out[key] = converted;
    }
    return out;
  }
  switch (type) {
    case 'string':
      if (isQuantitySlot(slot)) {
        if (typeof value === 'number') return String(value);
        if (typeof value !== 'string') return wrong('a quantity such as 500m, 2 or 64Mi');
        if (!quantityPattern.test(value)) {
          walk.problems.add(
            path,
            value,
            'is not a quantity; expected a number with an optional suffix such as 500m, 2, 1.5 or 64Mi',
          );
          return undefined;
        }
        return value;
      }
      return typeof value === 'string' ? value : wrong('a string');
    case 'Date':
      return typeof value === 'string' ? value : wrong('a time such as 2026-12-01T12:00:00Z');
    case 'boolean':
      return typeof value === 'boolean' ? value : wrong('true or false');
    case 'number':
      if (typeof value !== 'number')
        return wrong(format === 'double' ? 'a number' : `an integer (${format})`);
      if (format === 'double') return value;
      if (!Number.isInteger(value)) return wrong(`an integer (${format})`);
      return checkInteger(value, format, path, walk) ? value : undefined;
    case 'IntOrString':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' && Number.isInteger(value)) return String(value);
      return wrong('an integer or a string such as 1 or "25%"');
    case 'any':
    case 'object':
      return value;
    default:
      return checkModel(value, type, path, walk, slot);
  }
}

function checkModel(value: unknown, model: string, path: string, walk: Walk, slot: Slot): unknown {
  const attributes = walk.types.attributes(model);
  if (!attributes) return value; // a type client-node does not describe: nothing to hold it to
  if (!isObject(value)) {
    walk.problems.add(path, value, `is ${describeValue(value)}; expected an object (${modelLabel(model)})`);
    return undefined;
  }
  const supported = slot.inStatus ? undefined : supportedFields[model];
  const out: Json = {};
  for (const [key, item] of Object.entries(value)) {
    const field = childPath(path, key);
    const attribute = attributes.find((a) => a.baseName === key);
    if (!attribute) {
      const names = attributes.map((a) => a.baseName);
      const suggestion = closest(key, names);
      walk.problems.add(
        field,
        item,
        `is not a field of ${modelLabel(model)}` +
          (suggestion ? `; did you mean "${suggestion}"?` : `; its fields: ${names.join(', ')}`),
      );
      continue;
    }
    if (supported && !supported.includes(key)) {
      walk.problems.add(
        field,
        item,
        `is not supported by Flotilla; the ${modelLabel(model)} fields it supports: ${supported.join(', ')}`,
      );
      continue;
    }
    const converted = check(item, attribute.type, attribute.format, field, walk, {
      model,
      field: key,
      inStatus: slot.inStatus,
    });
    if (converted !== undefined) out[key] = converted;
  }
  return out;
}

/** The kinds a manifest may hold, for messages. */
export const manifestKindList = manifestKinds.map((k) => k.kind).join(', ');

/** Checks one parsed document (any JSON value) and converts it for the proto. */
export function checkDocument(doc: unknown, types: ModelTypes): CheckedDocument {
  const problems = new FieldProblems();
  if (!isObject(doc)) {
    problems.add(
      '(document)',
      doc,
      `is ${describeValue(doc)}; expected an object with apiVersion, kind and metadata`,
    );
    return { label: '', problems };
  }
  const { apiVersion, kind, metadata } = doc;
  const name = isObject(metadata) && typeof metadata.name === 'string' ? metadata.name : '';
  const kindText = typeof kind === 'string' ? kind : '';
  const label = kindText && name ? `${kindText}/${name}` : kindText || (name ? `(no kind)/${name}` : '');
  if (kind === undefined || kind === null) problems.missing('kind', `required; one of ${manifestKindList}`);
  else if (typeof kind !== 'string')
    problems.add('kind', kind, `is ${describeValue(kind)}; expected one of ${manifestKindList}`);
  if (apiVersion === undefined || apiVersion === null)
    problems.missing('apiVersion', 'required, such as v1 or apps/v1');
  else if (typeof apiVersion !== 'string')
    problems.add(
      'apiVersion',
      apiVersion,
      `is ${describeValue(apiVersion)}; expected a string such as v1 or apps/v1`,
    );
  if (problems.list.length > 0) return { label, problems };

  const info = manifestKinds.find((k) => k.kind === kind);
  if (!info) {
    const known = kinds.find((k) => k.kind === kind);
    const suggestion = closest(
      kindText,
      manifestKinds.map((k) => k.kind),
    );
    problems.add(
      'kind',
      kind,
      known
        ? `cannot be applied (${known.notInManifests ?? `the controller maintains ${known.kind} objects itself`}); manifests hold ${manifestKindList}`
        : `is not supported by Flotilla` +
            (suggestion ? `; did you mean "${suggestion}"?` : '') +
            ` (supported kinds: ${manifestKindList})`,
    );
    return { label, problems };
  }
  if (apiVersion !== info.apiVersion) {
    problems.add('apiVersion', apiVersion, `does not serve kind ${info.kind}; expected "${info.apiVersion}"`);
  }
  if (!isObject(metadata) || typeof metadata.name !== 'string' || metadata.name === '') {
    if (metadata === undefined || isObject(metadata)) problems.missing('metadata.name', 'required');
  }
  const json = checkModel(doc, info.model, '', { types, problems }, { inStatus: false }) as Json | undefined;
  if (json) delete json.status;
  return problems.list.length > 0 || !json ? { info, label, problems } : { info, label, json, problems };
}
