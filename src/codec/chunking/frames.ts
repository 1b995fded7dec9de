// Chunking of whole frames: a message whose encoded frame is over a transport's size limit
// travels as `params.chunk` messages that each fit, and is decoded from the reassembled frame
// on the other side. The parts go through the same codec, so they are sealed like any message.
import { randomBytes } from 'node:crypto';
import {
  ConfigError,
  createId,
  PayloadTooLargeError,
  type Envelope,
} from '../../protocol/index.js';
import type { Codec } from '../codec.js';
import { copyFrameEncoding } from '../frame-encoding.js';
import { ChunkAssembler } from './assembler.js';
import { CHUNK_KIND, partCount, splitIntoChunks, type ChunkBase } from './split.js';

/** Header on parts whose object is an encoded frame (not application bytes). */
export const CHUNKED_FRAME_HEADER = 'llmwire-chunked';
export const CHUNKED_FRAME_VALUE = 'frame';

/** Fields copied from the message onto its parts, so they route, order and trace alike. */
const CARRIED = [
  'source',
  'corr',
  'deadline',
  'prio',
  'key',
  'tenant',
  'traceparent',
  'tracestate',
] as const;

/** Tries to fit parts under the limit; each retry shrinks the part by what overflowed. */
const MAX_FIT_ATTEMPTS = 8;

/**
 * Encodes `env`; returns the one frame when it fits in `maxMessageBytes`, or else the frames of
 * `params.chunk` messages carrying it, each at most `maxMessageBytes` long. The part size is
 * the largest that fits after the chunk header, the encoding's expansion (base64 in JSON) and
 * the codec's seals.
 */
export function encodeChunked(
  codec: Codec,
  env: Envelope,
  maxMessageBytes: number,
  options: { transfer?: string } = {},
): Uint8Array[] {
  if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1) {
    throw new ConfigError(`maxMessageBytes must be a positive integer, got ${maxMessageBytes}`);
  }
  const frame = codec.encode(env);
  if (frame.byteLength <= maxMessageBytes) return [frame];

  const base: ChunkBase = { headers: { [CHUNKED_FRAME_HEADER]: CHUNKED_FRAME_VALUE } };
  for (const field of CARRIED) {
    if (env[field] !== undefined) (base as Record<string, unknown>)[field] = env[field];
  }
  const transfer = options.transfer ?? createId();
  const split = (data: Uint8Array, partSize: number, worstCase = false) =>
    splitIntoChunks(data, { partSize, subject: env.subject, transfer, base }).map((part) => {
      // Probes carry the largest numbers the real parts can, so their header is no shorter.
      if (worstCase) {
        const most = frame.byteLength;
        Object.assign(part.chunk!, { index: most, total: most, size: most, offset: most });
      }
      copyFrameEncoding(env, part); // the parts travel in the encoding of the message
      return codec.encode(part);
    });

  // Measure the frame size of a 1-byte part and a larger one, with random (incompressible)
  // bytes, to learn the header overhead and the bytes each part byte costs.
  const probeBytes = Math.max(2, Math.min(frame.byteLength, maxMessageBytes, 4096));
  const small = split(randomBytes(1), 1, true)[0]!.byteLength;
  const large = split(randomBytes(probeBytes), probeBytes, true)[0]!.byteLength;
  const perByte = Math.max(1, (large - small) / (probeBytes - 1));
  let partSize = Math.floor((maxMessageBytes - small) / perByte) + 1;

  for (let attempt = 0; attempt < MAX_FIT_ATTEMPTS; attempt++) {
    if (partSize < 1) {
      throw new ConfigError(
        `maxMessageBytes ${maxMessageBytes} leaves no room for a part after the ${small}-byte chunk header`,
      );
    }
    const frames = split(frame, partSize);
    let longest = 0;
    for (const f of frames) longest = Math.max(longest, f.byteLength);
    if (longest <= maxMessageBytes) return frames;
    partSize -= Math.ceil((longest - maxMessageBytes) / perByte) + 1;
  }
  throw new PayloadTooLargeError(
    `could not fit ${partCount(frame.byteLength, partSize)} parts under ${maxMessageBytes} bytes`,
    { details: { size: frame.byteLength, limit: maxMessageBytes } },
  );
}

/** True for a part of a chunked frame, as made by encodeChunked. */
export function isFrameChunk(env: Envelope): boolean {
  return env.kind === CHUNK_KIND && env.headers?.[CHUNKED_FRAME_HEADER] === CHUNKED_FRAME_VALUE;
}

export interface ChunkedDecoder {
  readonly assembler: ChunkAssembler;
  /**
   * Decodes one frame. Returns the message; for a part of a chunked frame, undefined until the
   * last part, then the message the reassembled frame holds.
   */
  decode(frame: Uint8Array): Envelope | undefined;
}

/** The receiving side of encodeChunked. Reassembled frames are limited to the codec's own limit. */
export function createChunkedDecoder(
  codec: Codec,
  assembler = new ChunkAssembler({ maxObjectBytes: codec.maxFrameBytes }),
): ChunkedDecoder {
  return {
    assembler,
    decode(frame) {
      const env = codec.decode(frame);
      if (!isFrameChunk(env)) return env;
      const result = assembler.accept(env);
      return result.complete ? codec.decode(result.data) : undefined;
    },
  };
}
