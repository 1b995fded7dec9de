// The sending side of chunking: one large object as `params.chunk` envelopes, each carrying a
// part's raw bytes as its body and, in `chunk`, where the part sits in the whole and the
// SHA-256 sums a receiver checks (docs/protocol.md, "Chunked transfers").
import {
  ConfigError,
  createEnvelope,
  createId,
  type Envelope,
  type EnvelopeInit,
} from '../../protocol/index.js';
import { checksum } from '../integrity.js';

export const CHUNK_KIND = 'params.chunk';

/** Header fields every part of a transfer repeats (routing, tenancy, correlation). */
export type ChunkBase = Omit<
  Partial<EnvelopeInit>,
  'kind' | 'subject' | 'body' | 'id' | 'chunk' | 'ct' | 'zip' | 'sum' | 'enc' | 'sig'
>;

export interface SplitOptions {
  /** Bytes per part; the last part holds the rest. */
  partSize: number;
  subject: string;
  /** Transfer id shared by every part. Default: a new id. */
  transfer?: string;
  /** First part to produce, to resume a transfer from the receiver's `resumeFrom`. Default 0. */
  fromIndex?: number;
  /** Sum of the whole object, when the sender already has it (saves hashing it again). */
  objectSum?: string;
  base?: ChunkBase;
}

/** Number of parts an object of `size` bytes is cut into. */
export function partCount(size: number, partSize: number): number {
  return Math.ceil(size / partSize);
}

/**
 * Cuts `data` into parts of `partSize` bytes, from part `fromIndex` on. Part bodies are views
 * of `data`, not copies: leave `data` unchanged until the parts are sent.
 */
export function splitIntoChunks(data: Uint8Array, options: SplitOptions): Envelope<Uint8Array>[] {
  const { partSize, subject } = options;
  if (!Number.isSafeInteger(partSize) || partSize < 1) {
    throw new ConfigError(`partSize must be a positive integer, got ${String(partSize)}`);
  }
  // The protocol's ChunkInfo has size >= 1: an empty object needs no chunking.
  if (data.byteLength === 0) throw new ConfigError('cannot split an empty object into chunks');
  const total = partCount(data.byteLength, partSize);
  const fromIndex = options.fromIndex ?? 0;
  if (!Number.isSafeInteger(fromIndex) || fromIndex < 0 || fromIndex > total) {
    throw new ConfigError(`fromIndex must be an integer from 0 to ${total}, got ${fromIndex}`);
  }
  const transfer = options.transfer ?? createId();
  if (transfer.length === 0 || transfer.length > 128) {
    throw new ConfigError('transfer id must be 1 to 128 characters');
  }
  const objectSum = options.objectSum ?? checksum(data);
  const parts: Envelope<Uint8Array>[] = [];
  for (let index = fromIndex; index < total; index++) {
    const offset = index * partSize;
    const part = data.subarray(offset, Math.min(offset + partSize, data.byteLength));
    parts.push(
      createEnvelope<Uint8Array>({
        ...options.base,
        kind: CHUNK_KIND,
        subject,
        body: part,
        chunk: {
          transfer,
          index,
          total,
          size: data.byteLength,
          partSum: checksum(part),
          objectSum,
          offset,
        },
      }),
    );
  }
  return parts;
}
