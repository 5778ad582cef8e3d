// The flags of the object commands, apart from their implementations, so that the command
// tree (help, parsing) loads without them.
import type { FlagSpec } from '../cli/types.js';

export const filenameFlag: FlagSpec = {
  name: 'filename',
  short: 'f',
  kind: 'string',
  repeatable: true,
  placeholder: 'FILE|DIR|-',
  description: 'a manifest file, a directory of them (.yaml, .yml, .json, in name order) or - for stdin',
};

export const objectNamespaceFlag: FlagSpec = {
  name: 'namespace',
  short: 'n',
  kind: 'string',
  placeholder: 'NS',
  description: 'the namespace',
  default: 'default',
};

export const allNamespacesFlag: FlagSpec = {
  name: 'all-namespaces',
  short: 'A',
  kind: 'boolean',
  description: 'every namespace',
};

export const dryRunFlag: FlagSpec = {
  name: 'dry-run',
  kind: 'boolean',
  description: 'validate on the controller and show what would change, but write nothing',
};
