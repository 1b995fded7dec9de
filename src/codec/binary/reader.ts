// Reads the primitive values of the binary encoding (docs/protocol.md, "Binary encoding") from a
// frame, refusing every malformed or truncated value with InvalidMessageError.
import { isAscii, isUtf8 } from 'node:buffer';
import { InvalidMessageError } from '../../protocol/index.js';

export class ByteReader {
  pos: number;
  readonly end: number;
  /** The frame as a Buffer (a view, not a copy), for Node's native string slicing. */
  readonly buf: Buffer;
  private view: DataView | undefined;

  constructor(frame: Uint8Array, pos = 0) {
    this.buf =
      frame instanceof Buffer
        ? frame
        : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    this.pos = pos;
    this.end = frame.byteLength;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  truncated(): never {
    throw new InvalidMessageError(`binary frame is truncated at byte ${this.pos}`);
  }

  u8(): number {
    if (this.pos >= this.end) this.truncated();
    return this.buf[this.pos++]!;
  }

  /** Unsigned LEB128, at most 8 bytes, in its shortest form, at most 2^53 - 1. */
  varint(): number {
    const buf = this.buf;
    if (this.pos >= this.end) this.truncated();
    let b = buf[this.pos++]!;
    if (b < 0x80) return b;
    let value = b & 0x7f;
    let mul = 0x80;
    for (let i = 1; i < 8; i++) {
      if (this.pos >= this.end) this.truncated();
      b = buf[this.pos++]!;
      value += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (b === 0) throw new InvalidMessageError('varint is not in its shortest form');
        if (value > Number.MAX_SAFE_INTEGER) {
          throw new InvalidMessageError('integer exceeds 2^53 - 1');
        }
        return value;
      }
      mul *= 0x80;
    }
    throw new InvalidMessageError('varint is longer than 8 bytes');
  }

  f64(): number {
    if (this.end - this.pos < 8) this.truncated();
    this.view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    const x = this.view.getFloat64(this.pos);
    this.pos += 8;
    return x;
  }

  /** `n` bytes as a view of the frame (no copy). */
  take(n: number): Uint8Array {
    if (this.end - this.pos < n) this.truncated();
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** varint length + bytes, as a view of the frame. */
  bytes(): Uint8Array {
    return this.take(this.varint());
  }

  /** varint byte length + UTF-8; invalid UTF-8 is refused. */
  str(): string {
    return this.utf8(this.varint());
  }

  utf8(n: number): string {
    if (this.end - this.pos < n) this.truncated();
    const buf = this.buf;
    const start = this.pos;
    const stop = start + n;
    this.pos = stop;
    let ascii: boolean;
    if (n < 64) {
      // A loop beats a native call for the short strings of a header.
      let i = start;
      while (i < stop && buf[i]! < 0x80) i++;
      ascii = i === stop;
    } else ascii = isAscii(buf.subarray(start, stop));
    if (ascii) return n <= 16 ? shortAscii(buf, start, n) : buf.toString('latin1', start, stop);
    if (!isUtf8(buf.subarray(start, stop))) {
      throw new InvalidMessageError('a string is not valid UTF-8');
    }
    return buf.toString('utf8', start, stop);
  }
}

const fcc = String.fromCharCode;

/** ASCII of up to 16 bytes: fromCharCode with the codes as arguments beats a native slice. */
function shortAscii(b: Buffer, p: number, n: number): string {
  if (n > 8) return shortAscii(b, p, 8) + shortAscii(b, p + 8, n - 8);
  switch (n) {
    case 0:
      return '';
    case 1:
      return fcc(b[p]!);
    case 2:
      return fcc(b[p]!, b[p + 1]!);
    case 3:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!);
    case 4:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!);
    case 5:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!);
    case 6:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!);
    case 7:
      return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!);
    default:
      return fcc(
        b[p]!,
        b[p + 1]!,
        b[p + 2]!,
        b[p + 3]!,
        b[p + 4]!,
        b[p + 5]!,
        b[p + 6]!,
        b[p + 7]!,
      );
  }
}

/**
 * One reader kept alive for the life of the process. V8 holds the shapes of objects built field
 * by field only weakly: when a full GC finds no reader alive, it drops their shape and throws
 * away the optimized code of every method that checks for it, and the next frames run slowly
 * until it is compiled again (seen with --trace-deopt as "weak objects").
 */
export const KEEP_SHAPE = new ByteReader(Buffer.alloc(0));
