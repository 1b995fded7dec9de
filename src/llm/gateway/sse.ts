// Server-sent events as OpenAI's chat completions send them (`data: <json>\n\n` per event,
// `data: [DONE]` at the end) or with typed events (`event: <type>` before each `data:`, no
// `[DONE]`, as the Responses and Messages APIs send them), and a failure after the stream began
// sent as an error event rather than a silent cut.
// Events produced in one turn of the event loop leave in one socket write (tokens of many
// streams arrive in bursts), and writes respect socket backpressure so a slow reader slows the
// bus stream behind it.
import type { ServerResponse } from 'node:http';

/** Buffered event text past which a writer flushes at once instead of at the end of the turn. */
const FLUSH_BYTES = 16 * 1024;
/** What a write returns when the writer can take more at once. */
export const SSE_READY = Promise.resolve();

export class SseWriter {
  private closed = false;
  private pending = '';
  private scheduled = false;
  private blocked: Promise<void> | undefined;
  /** The last event type written, already checked. */
  private lastType = '';

  constructor(
    private readonly res: ServerResponse,
    requestId: string,
  ) {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': requestId,
      'x-accel-buffering': 'no',
    });
    // No flushHeaders(): the first event follows in the same turn and leaves with the headers.
    res.once('close', () => (this.closed = true));
  }

  get isClosed(): boolean {
    return this.closed || this.res.destroyed;
  }

  /**
   * Queues one `data:` event of already-serialized JSON, which must be one line (JSON.stringify
   * always writes one: it escapes CR and LF inside strings); the promise resolves when the
   * writer can take more (at once, unless the socket is full).
   */
  data(json: string): Promise<void> {
    if (this.isClosed) return SSE_READY;
    return this.queue(`data: ${json}\n\n`);
  }

  /**
   * Queues one named event, `event: <type>` then `data: <json>`, as APIs with typed events send
   * them (Responses, Anthropic Messages); resolves as `data` does.
   */
  event(type: string, json: string): Promise<void> {
    if (this.isClosed) return SSE_READY;
    if (type !== this.lastType) {
      // Checked once per run of the same type: a stream's deltas are one type after another.
      if (!/^[a-z_.]+$/.test(type)) throw new Error('SSE event type must be [a-z_.]+');
      this.lastType = type;
    }
    return this.queue(`event: ${type}\ndata: ${json}\n\n`);
  }

  /** Ends a failed stream with an error event carrying the API's error JSON. */
  async error(json: string): Promise<void> {
    if (this.isClosed) return;
    this.pending += `event: error\ndata: ${json}\n\n`;
    this.end();
  }

  done(): void {
    if (this.isClosed) return;
    this.pending += 'data: [DONE]\n\n';
    this.end();
  }

  /** Ends the stream as it is, with no `[DONE]` (APIs whose last event says it is over). */
  end(): void {
    this.flush();
    if (!this.res.writableEnded) this.res.end();
  }

  private queue(event: string): Promise<void> {
    this.pending += event;
    if (this.pending.length >= FLUSH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushLater);
    }
    return this.blocked ?? SSE_READY;
  }

  private readonly flushLater = () => {
    this.scheduled = false;
    this.flush();
  };

  private flush(): void {
    if (this.pending === '' || this.isClosed) {
      this.pending = '';
      return;
    }
    const text = this.pending;
    this.pending = '';
    if (!this.res.write(text) && this.blocked === undefined) this.blocked = this.drain();
  }

  private drain(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        this.blocked = undefined;
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }
}
