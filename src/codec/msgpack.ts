// The binary encoding: one MessagePack map per frame (standard MessagePack, no msgpackr
// extensions, so any MessagePack library reads it). Same members as the JSON encoding, with
// `payload` as a bin.
import { Packr, type Options } from 'msgpackr';
import { InvalidMessageError, type Envelope } from '../protocol/index.js';

/**
 * Standard MessagePack both ways: no records, no extension for `undefined` (skipped, as JSON
 * does), 64-bit integers read as numbers (other implementations write `ts` as uint64).
 */
export const packr = new Packr({
  useRecords: false,
  variableMapSize: true,
  moreTypes: false,
  skipValues: [undefined],
  int64AsType: 'number',
} as Options & { skipValues: unknown[] });

/** Deepest nesting a frame or body may have; deeper values are refused, not stack-overflowed. */
export const MAX_DEPTH = 64;

/**
 * Refuses what MessagePack would not carry faithfully: strings with lone surrogates (they have
 * no UTF-8 form; msgpackr would write invalid UTF-8) and `__proto__` keys (renamed on decode),
 * both of which would also break signatures; and nesting past MAX_DEPTH.
 */
export function assertPackable(value: unknown, depth = 0): void {
  if (typeof value === 'string') {
    if (!value.isWellFormed()) {
      throw new InvalidMessageError(
        'a string holds a lone surrogate; MessagePack needs well-formed Unicode',
      );
    }
    return;
  }
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return;
  if (depth >= MAX_DEPTH)
    throw new InvalidMessageError(`value nests deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(value)) {
    for (const item of value) assertPackable(item, depth + 1);
    return;
  }
  for (const key of Object.keys(value)) {
    if (key === '__proto__') throw new InvalidMessageError("a '__proto__' key cannot be carried");
    if (!key.isWellFormed()) throw new InvalidMessageError('a key holds a lone surrogate');
    assertPackable((value as Record<string, unknown>)[key], depth + 1);
  }
}

export function encodeMsgpackFrame(env: Envelope): Uint8Array {
  assertPackable(env);
  if (env.payload !== undefined && env.body !== undefined) {
    const { body: _body, ...rest } = env;
    return packr.pack(rest);
  }
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
