// Compact forms of ids (docs/protocol.md, "Binary encoding"): a UUID in lower-case canonical
// text form travels as its 16 bytes, a W3C traceparent as its 26. Only text that the bytes give
// back exactly is packed, so a signature over the text (signing.ts) is the same either way.
import { InvalidMessageError } from '../../protocol/index.js';
import type { FieldMemo } from './memo.js';
import type { ByteReader } from './reader.js';
import type { ByteWriter } from './writer.js';
import { TRACEPARENT_BYTES, UUID_BYTES } from './format.js';

/** Char codes of the two lower-case hex digits of each byte value. */
const HEX_CODES = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  const digits = i.toString(16).padStart(2, '0');
  HEX_CODES[2 * i] = digits.charCodeAt(0);
  HEX_CODES[2 * i + 1] = digits.charCodeAt(1);
}
/** Value of a lower-case hex digit by char code, -1 for any other code below 128. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUE[i.toString(16).charCodeAt(0)] = i;

function hexValue(c: number): number {
  return c < 128 ? HEX_VALUE[c]! : -1;
}

/** Scratch space where ids are spelled out before Node slices them into a string. */
const TEXT = Buffer.alloc(64);

/**
 * Writes `count` bytes from the lower-case hex digits in TEXT (where `copyText` put the string)
 * at `at`; false (nothing usable written) when a character is not a lower-case hex digit.
 * The digits are read from bytes rather than with `charCodeAt`, which V8 slows down several
 * times over in a process where any class extends String (ioredis declares one).
 */
function putHex(w: ByteWriter, at: number, count: number): boolean {
  const buf = w.buf;
  for (let i = 0; i < count; i++) {
    const hi = hexValue(TEXT[at + 2 * i]!);
    const lo = hexValue(TEXT[at + 2 * i + 1]!);
    if (hi < 0 || lo < 0) return false;
    buf[w.pos + i] = (hi << 4) | lo;
  }
  w.pos += count;
  return true;
}

/** Copies an ASCII string of at most TEXT's length into TEXT; false if it is not ASCII. */
function copyText(s: string): boolean {
  // Latin-1 keeps one byte per character; a character past 0x7f would not survive it, and
  // makes the UTF-8 length longer than the string.
  if (Buffer.byteLength(s) !== s.length) return false;
  TEXT.write(s, 0, 'latin1');
  return true;
}

/** Spells `count` bytes of `buf` from `at` as hex into TEXT at `to`; returns the next offset. */
function spell(buf: Uint8Array, at: number, count: number, to: number): number {
  for (let i = 0; i < count; i++) {
    const b = buf[at + i]!;
    TEXT[to++] = HEX_CODES[2 * b]!;
    TEXT[to++] = HEX_CODES[2 * b + 1]!;
  }
  return to;
}

/**
 * An id field: `0x00` + 16 bytes for a canonical lower-case UUID, otherwise the string
 * (varint length >= 1 + UTF-8). Ids of other shapes, or in upper case, keep their text.
 */
export function writeId(w: ByteWriter, id: string): void {
  if (id.length === 0) throw new InvalidMessageError('an id cannot be empty');
  if (
    id.length === 36 &&
    copyText(id) &&
    TEXT[8] === 0x2d &&
    TEXT[13] === 0x2d &&
    TEXT[18] === 0x2d &&
    TEXT[23] === 0x2d
  ) {
    w.ensure(1 + UUID_BYTES);
    const start = w.pos;
    w.buf[w.pos++] = 0;
    if (
      putHex(w, 0, 4) &&
      putHex(w, 9, 2) &&
      putHex(w, 14, 2) &&
      putHex(w, 19, 2) &&
      putHex(w, 24, 6)
    ) {
      return;
    }
    w.pos = start;
  }
  w.str(id);
}

/**
 * An id field; through `memo` when given (a field that repeats, such as `corr`), one memo per
 * form so that 16 bytes of text are never taken for a UUID's bytes or the reverse.
 */
export function readId(r: ByteReader, memo?: { text: FieldMemo; uuid: FieldMemo }): string {
  const n = r.varint();
  if (n !== 0) return memo === undefined ? r.utf8(n) : memo.text.read(r, n, utf8);
  return memo === undefined ? readUuid(r) : memo.uuid.read(r, UUID_BYTES, readUuid);
}

const utf8 = (r: ByteReader, n: number) => r.utf8(n);

function readUuid(r: ByteReader): string {
  if (r.remaining < UUID_BYTES) r.truncated();
  const b = r.buf;
  const at = r.pos;
  r.pos += UUID_BYTES;
  let to = spell(b, at, 4, 0);
  TEXT[to++] = 0x2d;
  to = spell(b, at + 4, 2, to);
  TEXT[to++] = 0x2d;
  to = spell(b, at + 6, 2, to);
  TEXT[to++] = 0x2d;
  to = spell(b, at + 8, 2, to);
  TEXT[to++] = 0x2d;
  to = spell(b, at + 10, 6, to);
  return TEXT.toString('latin1', 0, to);
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** A traceparent: version, trace id, parent id and flags, 26 bytes. Other text is refused. */
export function writeTraceparent(w: ByteWriter, tp: string): void {
  if (typeof tp !== 'string' || !TRACEPARENT.test(tp)) {
    throw new InvalidMessageError('traceparent is not a W3C traceparent');
  }
  w.ensure(TRACEPARENT_BYTES);
  copyText(tp); // ASCII: the pattern above allows nothing else
  putHex(w, 0, 1);
  putHex(w, 3, 16);
  putHex(w, 36, 8);
  putHex(w, 53, 1);
}

export function readTraceparent(r: ByteReader): string {
  if (r.remaining < TRACEPARENT_BYTES) r.truncated();
  const b = r.buf;
  const at = r.pos;
  r.pos += TRACEPARENT_BYTES;
  let to = spell(b, at, 1, 0);
  TEXT[to++] = 0x2d;
  to = spell(b, at + 1, 16, to);
  TEXT[to++] = 0x2d;
  to = spell(b, at + 17, 8, to);
  TEXT[to++] = 0x2d;
  to = spell(b, at + 25, 1, to);
  return TEXT.toString('latin1', 0, to);
}
