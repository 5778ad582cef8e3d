// The flags every image command shares: where the local images live and which registries
// are plain HTTP.
import type { FlagSpec } from '../cli/types.js';

export const imageRootFlag: FlagSpec = {
  name: 'image-root',
  kind: 'string',
  placeholder: 'DIR',
  description: 'the local image store',
  defaultText: '$FLOTILLA_IMAGE_ROOT, else ~/.flotilla/images',
};

export const insecureRegistryFlag: FlagSpec = {
  name: 'insecure-registry',
  kind: 'string',
  placeholder: 'HOST:PORT',
  repeatable: true,
  description:
    'reach this registry over plain HTTP (localhost and 127.0.0.0/8 always are; others use HTTPS, trusting ~/.flotilla/certs.d/HOST:PORT/ca.crt)',
};

/** The flags of commands that open the local image store and may talk to registries. */
export const imageFlags: readonly FlagSpec[] = [imageRootFlag, insecureRegistryFlag];
