// Values without a fixed layout inside a binary frame: one MessagePack value, length-prefixed
// (docs/protocol.md, "Binary encoding"), with the same refusals as the MessagePack encoding.
import { InvalidMessageError } from '../../protocol/index.js';
import { assertPackable, packr } from '../msgpack.js';
import type { ByteReader } from './reader.js';
import type { ByteWriter } from './writer.js';

/** varint length + the MessagePack form of `value`, which sits `depth` levels into the frame. */
export function writeValue(w: ByteWriter, value: unknown, depth: number): void {
  assertPackable(value, depth);
  w.bytes(packr.pack(value));
}

export function readValue(r: ByteReader): unknown {
  const bytes = r.bytes();
  try {
    return packr.unpack(bytes);
  } catch (cause) {
    throw new InvalidMessageError('a value is not valid MessagePack', { cause });
  }
}

/** A MessagePack map read as a plain record; anything else is refused. */
export function readMap(r: ByteReader, what: string): Record<string, unknown> {
  const value = readValue(r);
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    value instanceof Uint8Array
  ) {
    throw new InvalidMessageError(`${what} must be a MessagePack map`);
  }
  return value as Record<string, unknown>;
}
