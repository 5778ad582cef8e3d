// The images present on this node as NodeStatus.images reports them (names and sizes, as
// the kubelet does), for the scheduler's image-locality score. Read from the local image
// store; an image that cannot be read is left out rather than failing the registration.
import type { ContainerImage } from '@flotilla/proto';
import type { Logger } from '@flotilla/common';
import { errorMessage } from '@flotilla/common';
import { readLocalImage, type AgentImageStores } from './local-image.js';

export async function presentImages(stores: AgentImageStores, log: Logger): Promise<ContainerImage[]> {
  const out: ContainerImage[] = [];
  for (const record of await stores.images.list()) {
    try {
      const image = await readLocalImage(stores.content, record);
      const sizeBytes = image.layers.reduce((sum, l) => sum + l.size, image.config.size);
      out.push({ names: [record.name], sizeBytes });
    } catch (err) {
      log.debug('image left out of the node status', { image: record.name, err: errorMessage(err) });
    }
  }
  return out.sort((a, b) => ((a.names[0] ?? '') < (b.names[0] ?? '') ? -1 : 1));
}
