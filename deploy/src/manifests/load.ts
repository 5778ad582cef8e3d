// -f arguments → checked proto Objects, or one error that lists every problem of every
// document (nothing is sent to the controller unless all of them are valid).
import { invalidArgument } from '@flotilla/common';
import { Object as ApiObject } from '@flotilla/proto';
import type { KindInfo } from '../objects/kinds.js';
import { documentLabel, parseDocuments, type ParsedDocument } from './documents.js';
import { checkDocument, type ModelTypes } from './schema.js';
import { readSources, type SourceInput } from './sources.js';
import { trace } from '../cli/trace.js';

export interface LoadedManifest {
  document: ParsedDocument;
  /** "Deployment/web" */
  label: string;
  info: KindInfo;
  object: ApiObject;
}

export interface ManifestCheck {
  manifests: LoadedManifest[];
  /** Every problem, each naming the file, the document, the object and the field. */
  problems: string[];
}

/** Checks parsed documents; pure given the model types. */
export function checkDocuments(documents: readonly ParsedDocument[], types: ModelTypes): ManifestCheck {
  const manifests: LoadedManifest[] = [];
  const problems: string[] = [];
  for (const document of documents) {
    const checked = checkDocument(document.value, types);
    const where = `${documentLabel(document)}${checked.label ? ` (${checked.label})` : ''}`;
    for (const problem of checked.problems.list) problems.push(`${where}: ${problem.message}`);
    if (checked.info && checked.json) {
      manifests.push({
        document,
        label: checked.label,
        info: checked.info,
        object: ApiObject.fromJSON({ [checked.info.field]: checked.json }),
      });
    }
  }
  return { manifests, problems };
}

/** Reads, parses and checks every source; pure but for reading the files. */
export async function checkManifests(
  paths: readonly string[],
  input: SourceInput,
  types: ModelTypes,
): Promise<ManifestCheck> {
  const read = await readSources(paths, input);
  trace('manifests: read');
  const problems = [...read.problems];
  const documents: ParsedDocument[] = [];
  for (const source of read.sources) {
    const parsed = parseDocuments(source.name, source.text);
    problems.push(...parsed.problems);
    documents.push(...parsed.documents);
  }
  trace('manifests: parsed');
  const checked = checkDocuments(documents, types);
  trace('manifests: checked');
  problems.push(...checked.problems);
  if (problems.length === 0 && checked.manifests.length === 0) {
    problems.push(`no objects in ${paths.join(', ')}`);
  }
  return { manifests: checked.manifests, problems };
}

/** The manifests, or an InvalidArgument error listing all their problems. */
export async function loadManifests(
  paths: readonly string[],
  input: SourceInput,
  types: ModelTypes,
): Promise<LoadedManifest[]> {
  const { manifests, problems } = await checkManifests(paths, input, types);
  if (problems.length > 0) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    throw invalidArgument(
      `${count} in the manifests, nothing was sent:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
  }
  return manifests;
}
