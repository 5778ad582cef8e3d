// Machine-readable output: the objects as their JSON form, in JSON or YAML.
import { stringify } from 'yaml';

export const outputFormats = ['wide', 'json', 'yaml'] as const;
export type OutputFormat = (typeof outputFormats)[number];

export function renderDocument(doc: unknown, format: 'json' | 'yaml'): string {
  if (format === 'json') return JSON.stringify(doc, null, 2) + '\n';
  return stringify(doc, { lineWidth: 0 });
}
