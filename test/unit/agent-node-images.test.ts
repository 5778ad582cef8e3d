// The images an agent reports in its node status: the local store's images with their
// sizes (config plus layers); an image that cannot be read is left out.
import t from 'tap';
import { rmSync } from 'node:fs';
import { silentLogger } from '@flotilla/common';
import { openAgentImageStores, presentImages } from '@flotilla/agent';
import { digestOf } from '@flotilla/images';
import { makeRunDir } from '../lib/index.js';

const manifestType = 'application/vnd.oci.image.manifest.v1+json';

t.test('present images with the size of their config and layers', async (t) => {
  const dir = makeRunDir('node-images');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stores = openAgentImageStores(dir, silentLogger);
  const layers = [
    {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: digestOf(Buffer.from('l1')),
      size: 1000,
    },
    {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: digestOf(Buffer.from('l2')),
      size: 2000,
    },
  ];
  const config = await stores.content.put(
    JSON.stringify({ rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }),
  );
  const manifest = await stores.content.put(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestType,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: config.digest,
        size: config.size,
      },
      layers,
    }),
  );
  const target = { mediaType: manifestType, digest: manifest.digest, size: manifest.size };
  await stores.images.put({ name: 'docker.io/library/web:v1', target, updatedAt: '' });
  await stores.images.put({
    name: 'docker.io/library/broken:v1',
    target: { ...target, digest: digestOf(Buffer.from('missing')) },
    updatedAt: '',
  });
  t.same(await presentImages(stores, silentLogger), [
    { names: ['docker.io/library/web:v1'], sizeBytes: config.size + 3000 },
  ]);
});
