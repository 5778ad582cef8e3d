// A manifest's text → its documents: YAML with "---" between documents (JSON is YAML),
// empty documents skipped, a "kind: List" expanded into its items. Duplicate keys and
// syntax errors are problems, with the line.
import { parseAllDocuments } from 'yaml';

export interface ParsedDocument {
  source: string;
  /** 1-based, counting every document of the source, as a reader counts "---". */
  index: number;
  /** Within a List document: the item's position, 0-based. */
  item?: number;
  value: unknown;
}

export interface DocumentsParsed {
  documents: ParsedDocument[];
  /** "web.yaml document 2: YAML: …" */
  problems: string[];
}

export function parseDocuments(source: string, text: string): DocumentsParsed {
  const documents: ParsedDocument[] = [];
  const problems: string[] = [];
  const parsed = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  // A text of only comments or blank lines is no document at all.
  const all = Array.isArray(parsed) ? parsed : [];
  all.forEach((doc, i) => {
    const index = i + 1;
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        problems.push(`${source} document ${index}: invalid YAML: ${error.message.split('\n')[0]}`);
      }
      return;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    const record = value as Record<string, unknown>;
    if (
      typeof value === 'object' &&
      !Array.isArray(value) &&
      record.kind === 'List' &&
      Array.isArray(record.items)
    ) {
      record.items.forEach((item: unknown, n) => documents.push({ source, index, item: n, value: item }));
      return;
    }
    documents.push({ source, index, value });
  });
  return { documents, problems };
}

/** "web.yaml document 2" or "list.json document 1 item 3", for messages. */
export function documentLabel(doc: ParsedDocument): string {
  return `${doc.source} document ${doc.index}` + (doc.item !== undefined ? ` item ${doc.item + 1}` : '');
}
