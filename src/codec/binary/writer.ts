// Writes the primitive values of the binary encoding (docs/protocol.md, "Binary encoding") into
// one reusable scratch buffer: LEB128 varints, length-prefixed UTF-8 strings, float64, bytes.
// Encoding is synchronous, so one module-level writer serves every codec.
import { InvalidMessageError } from '../../protocol/index.js';

const INITIAL_BYTES = 16 * 1024;
/** A scratch buffer grown past this is dropped after use, so one large frame does not pin it. */
const KEEP_BYTES = 1024 * 1024;

export class ByteWriter {
  buf: Buffer = Buffer.allocUnsafe(INITIAL_BYTES);
  view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  pos = 0;

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  u8(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** Unsigned LEB128 of a safe non-negative integer (the caller checks the range). */
  varint(n: number): void {
    this.ensure(8);
    const buf = this.buf;
    let pos = this.pos;
    while (n >= 0x80) {
      buf[pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  f64(x: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, x);
    this.pos += 8;
  }

  /** varint byte length + UTF-8. Refuses lone surrogates, which have no UTF-8 form. */
  str(s: string): void {
    const n = s.length;
    if (n < 0x80) {
      // Short strings are nearly always ASCII: written in place, with the length byte after.
      // A native write, not a charCodeAt loop, which V8 slows down several times over in a
      // process where any class extends String (ioredis declares one). One byte per character
      // means ASCII; a lone surrogate would have become three bytes.
      this.ensure(1 + 3 * n);
      const written = this.buf.write(s, this.pos + 1, 'utf8');
      if (written === n) {
        this.buf[this.pos] = n;
        this.pos += 1 + n;
        return;
      }
    }
    if (!s.isWellFormed()) {
      throw new InvalidMessageError('a string holds a lone surrogate; it has no UTF-8 form');
    }
    const len = Buffer.byteLength(s);
    this.varint(len);
    this.ensure(len);
    this.buf.write(s, this.pos, len, 'utf8');
    this.pos += len;
  }

  /** varint length + the bytes. */
  bytes(b: Uint8Array): void {
    this.varint(b.byteLength);
    this.raw(b);
  }

  raw(b: Uint8Array): void {
    this.ensure(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }

  /** A copy of what was written, plus `tail` appended (one copy of it), then a reset. */
  finish(tail?: Uint8Array): Uint8Array {
    const head = this.pos;
    const size = head + (tail?.byteLength ?? 0);
    const out = Buffer.allocUnsafe(size);
    this.buf.copy(out, 0, 0, head);
    if (tail !== undefined) out.set(tail, head);
    this.pos = 0;
    if (this.buf.length > KEEP_BYTES) {
      this.buf = Buffer.allocUnsafe(INITIAL_BYTES);
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    }
    return out;
  }
}

export const writer = new ByteWriter();
