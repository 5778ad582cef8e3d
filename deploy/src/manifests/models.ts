// @kubernetes/client-node's model type maps. `npm run build` extracts the ones Flotilla's
// kinds reach into dist/kube-models.json (scripts/kube-models.mjs): reading it takes a few
// milliseconds, importing the package's 2,700 model modules 150-250 ms, which every
// `deploy apply` paid. Without the file (a tree built by tsc alone) the models are
// imported, on first use, as before. Only the commands that read manifests need them:
// `deploy run` and `deploy ps` never load them.
import { readFileSync } from 'node:fs';
import { importExternal } from '../cli/import-external.js';
import type { ModelAttribute, ModelTypes } from './schema.js';

interface GeneratedModel {
  getAttributeTypeMap?: () => ModelAttribute[];
}

/** dist/kube-models.json, from dist/manifests/models.js and from the bundle in dist/bundle/ alike. */
const extracted = new URL('../kube-models.json', import.meta.url);

let loading: Promise<ModelTypes> | undefined;

async function fromExtract(): Promise<ModelTypes | undefined> {
  let text: string;
  try {
    // Synchronously: 70 KB, while the connection opens (readFile: a thread-pool round
    // trip for each of open, fstat, read and close).
    text = readFileSync(extracted, 'utf8');
  } catch {
    return undefined;
  }
  const maps = JSON.parse(text) as Record<string, ModelAttribute[] | undefined>;
  return { attributes: (name: string) => maps[name] };
}

async function fromPackage(): Promise<ModelTypes> {
  const module = await importExternal('@kubernetes/client-node/dist/gen/models/all.js');
  const models = module as Record<string, GeneratedModel | undefined>;
  return { attributes: (name: string) => models[name]?.getAttributeTypeMap?.() };
}

export function kubernetesModels(): Promise<ModelTypes> {
  loading ??= fromExtract().then((types) => types ?? fromPackage());
  return loading;
}
