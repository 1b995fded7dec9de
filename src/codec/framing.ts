// Length-prefixed framing for byte-stream transports (TCP, pipes, WebSocket binary streams):
// each frame is a 4-byte big-endian unsigned length followed by that many bytes.
import { PayloadTooLargeError } from '../protocol/index.js';

export const LENGTH_PREFIX_BYTES = 4;

export function writeFrame(frame: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(LENGTH_PREFIX_BYTES + frame.byteLength);
  out.writeUInt32BE(frame.byteLength, 0);
  out.set(frame, LENGTH_PREFIX_BYTES);
  return out;
}

/**
 * Splits a byte stream back into frames. A length above `maxFrameBytes` throws
 * PayloadTooLargeError before any of that frame is buffered; the stream cannot be resynchronised
 * after that and must be closed.
 */
export class FrameReader {
  private buffered: Buffer[] = [];
  private size = 0;
  private failed = false;

  constructor(readonly maxFrameBytes: number) {}

  /** Feeds bytes; returns the frames completed by them. */
  push(bytes: Uint8Array): Uint8Array[] {
    if (this.failed) throw new PayloadTooLargeError('frame stream already failed; reconnect');
    // Copied: a caller may reuse its read buffer while a frame is still incomplete.
    this.buffered.push(Buffer.from(bytes));
    this.size += bytes.byteLength;
    const frames: Uint8Array[] = [];
    while (this.size >= LENGTH_PREFIX_BYTES) {
      const head = this.peek(LENGTH_PREFIX_BYTES);
      const length = head.readUInt32BE(0);
      if (length > this.maxFrameBytes) {
        this.failed = true;
        throw new PayloadTooLargeError(
          `frame length ${length} exceeds the ${this.maxFrameBytes}-byte limit`,
          { details: { size: length, limit: this.maxFrameBytes } },
        );
      }
      if (this.size < LENGTH_PREFIX_BYTES + length) break;
      const all = this.take(LENGTH_PREFIX_BYTES + length);
      frames.push(all.subarray(LENGTH_PREFIX_BYTES));
    }
    return frames;
  }

  /** Bytes held for an incomplete frame. */
  get pendingBytes(): number {
    return this.size;
  }

  private peek(n: number): Buffer {
    if (this.buffered[0]!.byteLength >= n) return this.buffered[0]!;
    this.buffered = [Buffer.concat(this.buffered)];
    return this.buffered[0]!;
  }

  private take(n: number): Buffer {
    const joined = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
    const out = Buffer.from(joined.subarray(0, n));
    const rest = joined.subarray(n);
    this.buffered = rest.byteLength > 0 ? [rest] : [];
    this.size -= n;
    return out;
  }
}
