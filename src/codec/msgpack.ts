// The binary encoding: one MessagePack map per frame (standard MessagePack, no msgpackr
// extensions, so any MessagePack library reads it). Same members as the JSON encoding, with
// `payload` as a bin.
import { Packr } from 'msgpackr';
import { InvalidMessageError, type Envelope } from '../protocol/index.js';

const packr = new Packr({ useRecords: false, variableMapSize: true, moreTypes: false });

export function encodeMsgpackFrame(env: Envelope): Uint8Array {
  return packr.pack(env);
}

export function decodeMsgpackFrame(frame: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = packr.unpack(frame);
  } catch (cause) {
    throw new InvalidMessageError('frame is not valid MessagePack', { cause });
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    value instanceof Uint8Array
  ) {
    throw new InvalidMessageError('MessagePack frame must be a map');
  }
  const record = value as Record<string, unknown>;
  if (record.payload !== undefined && !(record.payload instanceof Uint8Array)) {
    throw new InvalidMessageError('MessagePack frame payload must be bin');
  }
  return record;
}

/** True when the first byte starts a MessagePack map (fixmap, map16, map32). */
export function looksLikeMsgpackMap(first: number): boolean {
  return (first & 0xf0) === 0x80 || first === 0xde || first === 0xdf;
}
