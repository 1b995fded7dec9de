// The last value of a header field, kept with its bytes: the messages of one stream repeat their
// subject, source, tenant and correlation id frame after frame, and comparing a few bytes costs
// less than making the same string again.
import type { ByteReader } from './reader.js';
import type { ByteWriter } from './writer.js';

const MAX_BYTES = 128;

export class FieldMemo {
  private readonly bytes = new Uint8Array(MAX_BYTES);
  private len = -1;
  private value = '';

  /** The string of the `n` bytes at the reader's position, made by `make` unless memoized. */
  read(r: ByteReader, n: number, make: (r: ByteReader, n: number) => string): string {
    if (n === this.len && r.remaining >= n) {
      const buf = r.buf;
      const at = r.pos;
      const bytes = this.bytes;
      let i = 0;
      while (i < n && buf[at + i] === bytes[i]) i++;
      if (i === n) {
        r.pos = at + n;
        return this.value;
      }
    }
    const at = r.pos;
    const value = make(r, n);
    if (n <= MAX_BYTES) {
      this.bytes.set(r.buf.subarray(at, at + n));
      this.len = n;
      this.value = value;
    }
    return value;
  }
}

/**
 * The writing side: the last value of a field with the bytes it was written as, copied again
 * while the field repeats instead of being encoded again (a UUID parsed from hex, a subject
 * through a native UTF-8 write).
 */
export class WriteMemo {
  private readonly bytes = new Uint8Array(MAX_BYTES);
  private len = -1;
  private value = '';

  /** Writes `s` with `write` unless it is the last value written, whose bytes are copied. */
  write(w: ByteWriter, s: string, write: (w: ByteWriter, s: string) => void): void {
    if (s === this.value && this.len >= 0) {
      const n = this.len;
      w.ensure(n);
      const buf = w.buf;
      const bytes = this.bytes;
      const at = w.pos;
      for (let i = 0; i < n; i++) buf[at + i] = bytes[i]!;
      w.pos = at + n;
      return;
    }
    const at = w.pos;
    write(w, s);
    const n = w.pos - at;
    if (n <= MAX_BYTES) {
      this.bytes.set(w.buf.subarray(at, at + n));
      this.len = n;
      this.value = s;
    } else this.len = -1;
  }
}
