// A server-sent events reader over a fetch body, linear in the bytes read: each chunk is decoded
// once and scanned once, and only a line cut by the chunk's end is carried over. (The SDK's reader
// copies the rest of its buffer after every event, quadratic when a whole stream arrives at
// once.) Lines end with LF, CRLF or CR; `data` lines join with LF; comments and other fields are
// skipped (WHATWG HTML, "Server-sent events", 9.2.6 interpreting an event stream).
import { StringDecoder } from 'node:string_decoder';

/** One event: its `event` field (null when absent) and its joined `data` lines. */
export interface SseEvent {
  event: string | null;
  data: string;
}

export class SseParser {
  // StringDecoder rather than TextDecoder: plain JS state, lighter to hold per open stream.
  private readonly decoder = new StringDecoder('utf8');
  /** The start of a line the previous chunk cut off. */
  private rest = '';
  /** A chunk ended with CR: an LF that opens the next one belongs to that line end. */
  private skipLf = false;
  /** Nothing read yet: a byte order mark there is dropped, as the standard says. */
  private first = true;
  private event: string | null = null;
  private data: string | undefined;

  /** The events completed by `chunk`, in order. */
  push(chunk: Uint8Array, out: SseEvent[]): void {
    let text = this.decoder.write(chunk);
    if (this.first && text !== '') {
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.skipLf && text.charCodeAt(0) === 10) text = text.slice(1);
    this.skipLf = false;
    this.lines(text, out);
  }

  /** The event the body's end completes, when its last line had no line end. */
  end(out: SseEvent[]): void {
    const text = this.decoder.end();
    this.lines(text, out);
    if (this.rest !== '') {
      this.line(this.rest, out);
      this.rest = '';
    }
    this.line('', out);
  }

  private lines(text: string, out: SseEvent[]): void {
    let start = 0;
    const n = text.length;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      let line = text.slice(start, i);
      if (this.rest !== '') {
        line = this.rest + line;
        this.rest = '';
      }
      this.line(line, out);
      if (c === 13) {
        if (i + 1 < n) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.skipLf = true;
        }
      }
      start = i + 1;
    }
    if (start < n) this.rest += text.slice(start);
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.data !== undefined || this.event !== null) {
        out.push({ event: this.event, data: this.data ?? '' });
      }
      this.event = null;
      this.data = undefined;
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) return;
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = '';
    if (colon !== -1) {
      const from = line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1;
      value = line.slice(from);
    }
    if (field === 'data') this.data = this.data === undefined ? value : `${this.data}\n${value}`;
    else if (field === 'event') this.event = value;
  }
}
