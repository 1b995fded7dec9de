// llmwire: the message layer for LLM systems. The main entry re-exports the pieces most
// applications use; each layer also has its own subpath (llmwire/protocol, llmwire/codec, ...).
export {
  createBus,
  type Bus,
  type BusOptions,
  type Message,
  type ResponseStream,
} from './bus/index.js';
export { BusQueue, type Job, type Consumer } from './bus/index.js';
export { createCodec, type Codec, type CodecOptions } from './codec/codec.js';
export { createMemoryTransport } from './transport/memory/index.js';
export type { Transport, DurableQueue, Delivery, DeadLetter } from './transport/transport.js';
export type { RecordStore, RecordStoreOptions } from './transport/records.js';
export {
  createEnvelope,
  createId,
  type Envelope,
  Priority,
  WireError,
  LocalError,
  ConfigError,
  MissingPackageError,
  ERROR_TABLE,
  type ErrorCode,
} from './protocol/index.js';
