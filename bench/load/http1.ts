// A minimal keep-alive HTTP/1.1 client connection for the load generator. node:http's client
// emits one 'data' event per chunked-encoding chunk, i.e. one JS callback per streamed token,
// which capped the client near the bare server's rate; this reads whole socket buffers and
// scans them with Buffer.indexOf instead. It handles only what llmwire's gateway and the bench
// baseline send: a status line, headers, then a content-length body or a chunked body.
import { connect, type Socket } from 'node:net';

const HEAD_END = Buffer.from('\r\n\r\n');
// Streamed bodies are SSE (LF only) of JSON with CR and LF escaped: the only CRLF in a chunked
// body is framing, so this sequence marks its end exactly.
const CHUNKED_END = Buffer.from('\r\n0\r\n\r\n');

/** Counts a marker across reads by carrying the last few bytes over. */
export class MarkerCounter {
  private carry: Buffer | undefined;
  constructor(private readonly marker: Buffer) {}

  count(chunk: Buffer): number {
    const data = this.carry === undefined ? chunk : Buffer.concat([this.carry, chunk]);
    let n = 0;
    for (let i = data.indexOf(this.marker); i !== -1; i = data.indexOf(this.marker, i + 1)) n++;
    const keep = this.marker.length - 1;
    this.carry = data.length > keep ? data.subarray(data.length - keep) : data;
    return n;
  }
}

export interface ResponseHandler {
  /** Body bytes as they arrive (framing included for chunked bodies). */
  body(chunk: Buffer): void;
  /** The whole response arrived: its status. */
  end(status: number): void;
  /** The connection failed or closed before the response was whole. */
  error(err: Error): void;
}

export class Http1Connection {
  private socket: Socket | undefined;
  private handler: ResponseHandler | undefined;
  private head: Buffer[] = [];
  private status = 0;
  private remaining = -1;
  private chunkedEnd: MarkerCounter | undefined;
  private inBody = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    /** Sent as `authorization: Bearer <key>` when given. */
    private readonly apiKey?: string,
  ) {}

  /** Sends one request; the handler hears about its response. One request at a time. */
  request(path: string, body: string, handler: ResponseHandler): void {
    this.handler = handler;
    this.head = [];
    this.inBody = false;
    const socket = this.open();
    socket.write(
      `POST ${path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\n` +
        (this.apiKey === undefined ? '' : `authorization: Bearer ${this.apiKey}\r\n`) +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private open(): Socket {
    if (this.socket !== undefined && !this.socket.destroyed) return this.socket;
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = (err: Error) => {
      if (this.socket === socket) this.socket = undefined;
      const h = this.handler;
      this.handler = undefined;
      h?.error(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed before the response ended')));
    this.socket = socket;
    return socket;
  }

  private onData(chunk: Buffer): void {
    if (this.handler === undefined) return;
    if (!this.inBody) {
      this.head.push(chunk);
      const data = this.head.length === 1 ? chunk : Buffer.concat(this.head);
      const at = data.indexOf(HEAD_END);
      if (at === -1) {
        this.head = [data];
        return;
      }
      this.startBody(data.toString('latin1', 0, at));
      chunk = data.subarray(at + HEAD_END.length);
      if (chunk.length === 0 && this.remaining !== 0) return;
    }
    this.handler.body(chunk);
    const whole =
      this.chunkedEnd !== undefined
        ? this.chunkedEnd.count(chunk) > 0
        : (this.remaining -= chunk.length) <= 0;
    if (whole) {
      const h = this.handler;
      this.handler = undefined;
      h.end(this.status);
    }
  }

  private startBody(head: string): void {
    this.inBody = true;
    this.status = Number(head.slice(9, 12));
    const lower = head.toLowerCase();
    const length = /\r\ncontent-length:\s*(\d+)/.exec(lower);
    if (/\r\ntransfer-encoding:\s*chunked/.test(lower)) {
      this.chunkedEnd = new MarkerCounter(CHUNKED_END);
      this.remaining = -1;
    } else {
      this.chunkedEnd = undefined;
      this.remaining = length === null ? 0 : Number(length[1]);
    }
  }
}
