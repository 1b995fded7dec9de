// Server-sent events as OpenAI sends them: `data: <json>\n\n` per event, `data: [DONE]` at the
// end, and a failure after the stream began sent as an error event rather than a silent cut.
// Writes respect socket backpressure so a slow reader slows the bus stream behind it.
import type { ServerResponse } from 'node:http';

export class SseWriter {
  private closed = false;
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
    // No flushHeaders(): the first event follows in the same tick and leaves with the headers.
    res.once('close', () => (this.closed = true));
  }

  get isClosed(): boolean {
    return this.closed || this.res.destroyed;
  }

  /** Writes one `data:` event of already-serialized JSON; resolves when the socket can take more. */
  async data(json: string): Promise<void> {
    if (this.isClosed) return;
    // JSON.stringify escapes CR and LF inside strings, so a serialized value never breaks the
    // event framing; refuse anything else that would.
    if (json.includes('\n') || json.includes('\r')) throw new Error('SSE data must be one line');
    if (!this.res.write(`data: ${json}\n\n`)) await this.drain();
  }

  /** Ends a failed stream with an error event carrying OpenAI's error JSON. */
  async error(json: string): Promise<void> {
    if (this.isClosed) return;
    this.res.write(`event: error\ndata: ${json}\n\n`);
    this.end();
  }

  done(): void {
    if (this.isClosed) return;
    this.res.write('data: [DONE]\n\n');
    this.end();
  }

  end(): void {
    if (!this.res.writableEnded) this.res.end();
  }

  private drain(): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }
}
