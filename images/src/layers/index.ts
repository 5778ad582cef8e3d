// Layer tars: reading (decompress, parse, diffID) and writing (diffs of overlay upper dirs,
// directories, arbitrary entries).
export {
  layerCompression,
  layerMediaType,
  decompressedChunks,
  type LayerCompression,
} from './compression.js';
export { readTar, type TarReadResult, type TarEntryHandler } from './tar-reader.js';
export {
  planEntries,
  normalisePrefix,
  type LayerEntry,
  type LayerEntryType,
  type FsNode,
  type FsNodeKind,
  type PlanOptions,
  type LinkTable,
} from './entries.js';
export {
  LayerWriter,
  encodeHeader,
  type LayerWriteOptions,
  type LayerWriteResult,
  type LayerOutputCompression,
} from './tar-writer.js';
export { walkTree, type WalkOptions } from './tree.js';
export {
  whiteoutPrefix,
  opaqueMarker,
  opaqueXattr,
  isOverlayWhiteout,
  parseOverlayAttrDump,
  readOverlayAttrs,
  makeWhiteouts,
  makeFifos,
  markOpaque,
  type OverlayAttrs,
} from './overlay-fs.js';
export { writeLayer, diffLayer, tarDirectory, type DiffOptions, type TarDirectoryOptions } from './layer.js';
