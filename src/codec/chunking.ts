// Chunked transfers of large payloads (model parameters, training data, oversized frames):
// split into `params.chunk` messages, reassembled and verified on the other side, resumable.
export {
  CHUNK_KIND,
  partCount,
  splitIntoChunks,
  type ChunkBase,
  type SplitOptions,
} from './chunking/split.js';
export {
  ChunkAssembler,
  type AcceptResult,
  type ChunkAssemblerOptions,
} from './chunking/assembler.js';
export { MemoryPartStore, type PartStore } from './chunking/part-store.js';
export {
  CHUNKED_FRAME_HEADER,
  CHUNKED_FRAME_VALUE,
  createChunkedDecoder,
  encodeChunked,
  isFrameChunk,
  type ChunkedDecoder,
} from './chunking/frames.js';
