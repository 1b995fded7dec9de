// The client's connection to a bus hub: opens it, says hello, notices when it dies, reconnects
// with backoff, and carries requests across it (each answered by `ok` or `err`, with any `dlv` or
// `dead` items sent before the answer). What rides on the connection is the client's business.
import type { SecureContextOptions } from 'node:tls';
import { WebSocket } from 'ws';
import type { Codec } from '../../codec/codec.js';
import {
  ClosedError,
  errorFromWire,
  ForbiddenError,
  InvalidMessageError,
  UnauthorizedError,
  UnavailableError,
} from '../../protocol/index.js';
import { backoffDelay } from '../queue-policy.js';
import { StatusFeed } from '../status.js';
import { tlsFailure } from '../tls.js';
import type { BackoffOptions } from '../transport.js';
import type { HubLink, Reply, RequestOptions } from './client-queue.js';
import {
  decodeHubRecord,
  encodeRecord,
  MAX_BATCH,
  messageBytes,
  RECORD_OVERHEAD_BYTES,
  WIRE_VERSION,
  type HubRecord,
  type PeerRecord,
  type HubIdentity,
} from './wire.js';

export interface LinkOptions {
  url: URL;
  token: string | undefined;
  /** CA and client certificate for wss:// (tls.connect options). */
  tls: SecureContextOptions;
  name: string | undefined;
  codec: Codec;
  /** Undefined: give up when the connection drops. */
  backoff: BackoffOptions | undefined;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  onError: (err: unknown) => void;
}

export interface LinkEvents {
  /** The socket is open and `hello` went out: write whatever state the hub should have. */
  onOpen(): void;
  /** One envelope for each subscription in `sids`. */
  onMessage(sids: readonly number[], frame: Uint8Array): void;
  /** The link is closed for good, by `close()` or by an error reconnecting cannot fix. */
  onShutdown(err: Error): void;
}

interface Call {
  readonly id: number;
  readonly record: PeerRecord;
  readonly onLost: RequestOptions['onLost'];
  sent: boolean;
  items: HubRecord[];
  settle(outcome: { reply: Reply } | { error: Error }): void;
}

export class HubConnection implements HubLink {
  readonly status = new StatusFeed();
  readonly codec: Codec;
  readonly requestTimeoutMs: number;
  session = 0;
  peerId: string | undefined;
  /** Who the hub took this peer to be (its hello); its source and tenant go on every publish. */
  identity: HubIdentity | undefined;
  hubMaxFrameBytes = Number.POSITIVE_INFINITY;
  closed = false;
  /** The socket is open and `hello` went out: records may be written. */
  open = false;
  private socket: WebSocket | undefined;
  private attempt = 0;
  private lastHeard = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private helloTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private readonly calls = new Map<number, Call>();
  private nextId = 0;
  private onSocketClosed: (() => void) | undefined;

  constructor(
    private readonly options: LinkOptions,
    private readonly events: LinkEvents,
  ) {
    this.codec = options.codec;
    this.requestTimeoutMs = options.requestTimeoutMs;
    this.status.push({ type: 'connecting' });
    this.connect();
  }

  get bufferedAmount(): number {
    return this.socket?.bufferedAmount ?? 0;
  }

  reportError(err: unknown): void {
    this.options.onError(err);
  }

  write(record: PeerRecord): void {
    this.socket?.send(encodeRecord(record));
  }

  writeBytes(bytes: Uint8Array): void {
    this.socket?.send(bytes);
  }

  request(build: (id: number) => PeerRecord, opts: RequestOptions): Promise<Reply> {
    if (this.closed) return Promise.reject(new ClosedError('ws transport'));
    return new Promise<Reply>((resolve, reject) => {
      const id = ++this.nextId;
      const onAbort = () => {
        if (!call.sent) call.settle({ reply: { result: undefined, items: [] } });
        else if (this.open) this.write({ op: 'cancel', id });
      };
      const timer = setTimeout(
        () => call.settle({ error: new UnavailableError('no reply from the hub in time') }),
        Math.min(opts.timeoutMs ?? this.requestTimeoutMs, 2 ** 31 - 1),
      );
      timer.unref();
      const call: Call = {
        id,
        record: build(id),
        onLost: opts.onLost,
        sent: false,
        items: [],
        settle: (outcome) => {
          if (this.calls.get(id) !== call) return;
          this.calls.delete(id);
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
          if ('reply' in outcome) resolve(outcome.reply);
          else reject(outcome.error);
        },
      };
      this.calls.set(id, call);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (this.open) this.send(call);
    });
  }

  /** Closes for good: pending requests fail with `err`, the socket is closed gracefully. */
  async close(err: Error = new ClosedError('ws transport')): Promise<void> {
    if (this.closed) return;
    const ws = this.socket;
    this.shutdown(err);
    if (ws === undefined || ws.readyState === ws.CLOSED) return;
    await new Promise<void>((resolve) => {
      this.onSocketClosed = resolve;
      ws.close(1000, 'closed');
      setTimeout(() => ws.terminate(), 1000).unref();
    });
  }

  private connect(): void {
    const o = this.options;
    const ws = new WebSocket(o.url, {
      headers: o.token === undefined ? {} : { authorization: `Bearer ${o.token}` },
      maxPayload: o.codec.maxFrameBytes + RECORD_OVERHEAD_BYTES,
      handshakeTimeout: o.connectTimeoutMs,
      perMessageDeflate: false,
      ...o.tls,
    });
    this.socket = ws;
    let refused: Error | undefined;
    let lastError: Error | undefined;
    ws.on('unexpected-response', (_req, res) => {
      const code = res.statusCode ?? 0;
      if (code === 401) refused = new UnauthorizedError('the hub refused the token');
      else if (code === 403) refused = new ForbiddenError('the hub refused this peer');
      lastError = new UnavailableError(`the hub answered HTTP ${code} instead of upgrading`);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      this.open = true;
      this.session++;
      this.lastHeard = Date.now();
      this.write({
        op: 'hello',
        v: WIRE_VERSION,
        ...(o.name === undefined ? {} : { name: o.name }),
      });
      this.events.onOpen();
      for (const call of this.calls.values()) if (!call.sent) this.send(call);
      this.helloTimer = setTimeout(() => ws.terminate(), o.connectTimeoutMs);
    });
    ws.on('message', (data, isBinary) => this.onRecord(messageBytes(data), isBinary));
    ws.on('ping', () => (this.lastHeard = Date.now()));
    ws.on('error', (err) => {
      lastError ??= err;
      // A certificate that is refused now will be refused on every retry: give up at once.
      const tlsProblem = tlsFailure(err);
      if (tlsProblem !== undefined) {
        refused ??= new UnauthorizedError(`TLS handshake with the hub failed: ${tlsProblem}`, {
          cause: err,
        });
      }
    });
    ws.on('close', () => this.onClose(ws, refused, lastError));
  }

  private send(call: Call): void {
    call.sent = true;
    call.items = [];
    this.write(call.record);
  }

  private onRecord(bytes: Buffer, isBinary: boolean): void {
    this.lastHeard = Date.now();
    const decoded = isBinary
      ? decodeHubRecord(bytes)
      : { ok: false as const, error: new InvalidMessageError('records are binary messages') };
    if (!decoded.ok) {
      this.options.onError(decoded.error);
      const id = 'id' in decoded ? decoded.id : undefined;
      if (this.open) {
        this.write({
          op: 'err',
          ...(id === undefined ? {} : { id }),
          error: decoded.error.toWire(),
        });
      }
      return;
    }
    const rec = decoded.record;
    switch (rec.op) {
      case 'hello':
        this.identity = rec.identity;
        this.greeted(rec.peer, rec.maxFrameBytes, rec.pingMs);
        return;
      case 'msg':
        this.events.onMessage(rec.sids ?? [rec.sid], rec.frame);
        return;
      case 'dlv':
      case 'dead': {
        const call = this.calls.get(rec.id);
        if (call !== undefined && call.items.length < MAX_BATCH) call.items.push(rec);
        return;
      }
      case 'ok': {
        const call = this.calls.get(rec.id);
        call?.settle({ reply: { result: rec.result, items: call.items } });
        return;
      }
      case 'err': {
        const err = errorFromWire(rec.error);
        const call = rec.id === undefined ? undefined : this.calls.get(rec.id);
        if (call !== undefined) call.settle({ error: err });
        else if (this.peerId === undefined && err.code === 'unsupported_version') this.fatal(err);
        else this.options.onError(err);
        return;
      }
    }
  }

  private greeted(peer: string, maxFrameBytes: number, pingMs: number | undefined): void {
    clearTimeout(this.helloTimer);
    this.attempt = 0;
    this.peerId = peer;
    this.hubMaxFrameBytes = maxFrameBytes;
    clearInterval(this.watchdog);
    if (pingMs !== undefined) {
      // A hub that vanished without closing (power loss, a cut cable) stops pinging: after two
      // silent intervals the connection is given up and reconnected.
      const ws = this.socket;
      this.watchdog = setInterval(() => {
        if (Date.now() - this.lastHeard > 2 * pingMs + 1000) ws?.terminate();
      }, pingMs);
      this.watchdog.unref();
    }
    this.status.push({ type: 'connected' });
  }

  private onClose(ws: WebSocket, refused: Error | undefined, error: Error | undefined): void {
    if (this.socket !== ws) return;
    this.socket = undefined;
    this.open = false;
    this.peerId = undefined;
    clearTimeout(this.helloTimer);
    clearInterval(this.watchdog);
    for (const call of [...this.calls.values()]) {
      if (!call.sent) continue;
      if (call.onLost === 'retry') call.sent = false;
      else if (call.onLost === 'drop') this.calls.delete(call.id);
      else {
        call.settle({
          error: new UnavailableError('the connection to the hub dropped before the reply'),
        });
      }
    }
    if (this.closed) {
      this.onSocketClosed?.();
      return;
    }
    if (refused !== undefined) {
      this.fatal(refused);
      return;
    }
    this.status.push(
      error === undefined ? { type: 'disconnected' } : { type: 'disconnected', error },
    );
    const backoff = this.options.backoff;
    if (backoff === undefined) {
      this.shutdown(new UnavailableError('the connection to the hub dropped'));
      return;
    }
    const attempt = ++this.attempt;
    this.retryTimer = setTimeout(
      () => {
        if (this.closed) return;
        this.status.push({ type: 'reconnecting', attempt });
        this.connect();
      },
      backoffDelay(attempt, backoff),
    );
  }

  /** An error reconnecting cannot fix (a refused token, an unsupported version): give up. */
  private fatal(err: Error): void {
    this.status.push({ type: 'error', error: err });
    const ws = this.socket;
    this.shutdown(err);
    ws?.terminate();
  }

  private shutdown(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.helloTimer);
    clearInterval(this.watchdog);
    for (const call of [...this.calls.values()]) call.settle({ error: err });
    this.events.onShutdown(err);
    this.status.push({ type: 'closed' });
    this.status.end();
  }
}
