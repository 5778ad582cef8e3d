// @kubernetes/client-node's model type maps, loaded on first use: the package is large
// (a quarter second to import), and only the commands that read manifests need it, so
// `deploy run` and `deploy ps` never load it. Only the generated models are imported,
// not the client (its HTTP stack and config loading).
import { importExternal } from '../cli/import-external.js';
import type { ModelAttribute, ModelTypes } from './schema.js';

interface GeneratedModel {
  getAttributeTypeMap?: () => ModelAttribute[];
}

let loading: Promise<ModelTypes> | undefined;

export function kubernetesModels(): Promise<ModelTypes> {
  loading ??= importExternal('@kubernetes/client-node/dist/gen/models/all.js').then((module) => {
    const models = module as Record<string, GeneratedModel | undefined>;
    return { attributes: (name: string) => models[name]?.getAttributeTypeMap?.() };
  });
  return loading;
}
