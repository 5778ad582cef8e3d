// The Store contract against MemoryStore, the store the controller's unit tests run on.
import t from 'tap';
import { MemoryStore } from '@flotilla/controller';
import { storeConformance } from '../lib/index.js';

storeConformance(t, async () => {
  const store = new MemoryStore();
  return { store, compact: async (revision) => store.compact(revision) };
});
