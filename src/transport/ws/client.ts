// The WebSocket client transport: a Transport whose messages go through a bus hub (hub.ts) onto
// the bus of the process hosting it. It reconnects with backoff and re-establishes its
// subscriptions; publishes made while disconnected wait in a bounded buffer (docs/ws-bus.md).
import { createCodec, type Codec } from '../../codec/codec.js';
import {
  ClosedError,
  ConfigError,
  OverloadedError,
  PayloadTooLargeError,
  UnavailableError,
  type Envelope,
} from '../../protocol/index.js';
import { contractQueue } from '../queue-contract.js';
import { resolveQueueOptions } from '../queue-policy.js';
import { checkPattern, checkSubject } from '../subject.js';
import type {
  DurableQueue,
  MessageHandler,
  QueueOptions,
  SubscribeOptions,
  Transport,
  TransportStatus,
  TransportSubscription,
} from '../transport.js';
import { clientTlsOptions, type ClientTlsOptions } from '../tls.js';
import { HubConnection } from './client-link.js';
import { RemoteQueue } from './client-queue.js';
import { encodeRecord, wireQueueOptions } from './wire.js';

export interface WebSocketTransportOptions {
  /** The hub's endpoint, e.g. `ws://127.0.0.1:8080/v1/bus`. */
  url: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** For wss://: the CA to trust instead of the system's, and a client certificate (mTLS). */
  tls?: ClientTlsOptions;
  /** Shown in the hub's list of peers. */
  name?: string;
  /** Codec for frames this peer sends; it reads both encodings. Default JSON. */
  codec?: Codec;
  /** Reconnect delays (exponential with jitter), or `false` to give up when the link drops. */
  reconnect?: { initialMs?: number; maxMs?: number } | false;
  /** Bytes of publishes held while disconnected, or queued unsent while connected. Default 8 MiB. */
  maxBufferedBytes?: number;
  /** How long a request to the hub (subscribe, queue call, flush) may wait. Default 30 s. */
  requestTimeoutMs?: number;
  /** Time allowed to open the connection and get the hub's hello. Default 10 s. */
  connectTimeoutMs?: number;
  /** Errors with nowhere else to go: a handler threw, the hub refused a publish. Default: stderr. */
  onError?: (error: unknown) => void;
}

export interface WebSocketTransport extends Transport {
  /** The hub's id for the current connection; undefined while not connected. */
  readonly peerId: string | undefined;
}

interface ClientSub {
  readonly sid: number;
  readonly pattern: string;
  readonly queue: string | undefined;
  readonly handler: MessageHandler;
  readonly confirm: () => void;
  readonly fail: (err: Error) => void;
}

export function createWebSocketTransport(options: WebSocketTransportOptions): WebSocketTransport {
  return new WebSocketClientTransport(options);
}

/** A peer of a bus hub: subscriptions, publishes and queue calls over one HubConnection. */
class WebSocketClientTransport implements WebSocketTransport {
  readonly name = 'ws';
  private readonly codec: Codec;
  private readonly maxBufferedBytes: number;
  private readonly onError: (error: unknown) => void;
  private readonly link: HubConnection;
  private readonly subs = new Map<number, ClientSub>();
  /** Publishes made while disconnected, sent first thing when the link is back. */
  private outbox: Uint8Array[] = [];
  private outboxBytes = 0;
  private nextSid = 0;

  constructor(options: WebSocketTransportOptions) {
    const url = hubUrl(options);
    const tls = options.tls === undefined ? {} : clientTlsOptions(options.tls, 'ws transport tls');
    this.codec = options.codec ?? createCodec({ open: false });
    this.maxBufferedBytes = options.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.onError = options.onError ?? ((err) => console.error('llmwire ws transport:', err));
    this.link = new HubConnection(
      {
        url,
        token: options.token,
        tls,
        name: options.name,
        codec: this.codec,
        backoff:
          options.reconnect === false
            ? undefined
            : { initialMs: 100, maxMs: 5000, ...options.reconnect, multiplier: 2, jitter: 0.2 },
        requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
        onError: this.onError,
      },
      {
        onOpen: () => this.onOpen(),
        onMessage: (sids, frame) => this.onMessage(sids, frame),
        onShutdown: (err) => this.onShutdown(err),
      },
    );
  }

  get maxMessageBytes(): number {
    return Math.min(this.codec.maxFrameBytes, this.link.hubMaxFrameBytes);
  }

  get peerId(): string | undefined {
    return this.link.peerId;
  }

  get identity(): WebSocketTransport['identity'] {
    return this.link.identity;
  }

  publish(env: Envelope): void {
    this.assertOpen();
    checkSubject(env.subject);
    // Stamped here as the hub would stamp it, so the frame goes on as sent (and a signature
    // over it stays valid).
    const identity = this.link.identity;
    if (identity !== undefined && env.sig === undefined) {
      env.source = identity.source;
      if (identity.tenant !== undefined) env.tenant = identity.tenant;
    }
    const frame = this.codec.encode(env);
    const limit = this.link.hubMaxFrameBytes;
    if (frame.byteLength > limit) {
      throw new PayloadTooLargeError(
        `frame of ${frame.byteLength} bytes exceeds the hub's ${limit}-byte limit`,
        { details: { size: frame.byteLength, limit } },
      );
    }
    const bytes = encodeRecord({ op: 'pub', frame });
    if (this.link.open) this.write(bytes);
    else this.hold(bytes);
  }

  subscribe(
    pattern: string,
    handler: MessageHandler,
    subOptions: SubscribeOptions = {},
  ): TransportSubscription {
    this.assertOpen();
    checkPattern(pattern);
    const sid = ++this.nextSid;
    let confirm!: () => void;
    let fail!: (err: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      confirm = resolve;
      fail = reject;
    });
    ready.catch(() => undefined); // a caller who never awaits `ready` must not see it reject
    const sub: ClientSub = { sid, pattern, queue: subOptions.queue, handler, confirm, fail };
    this.subs.set(sid, sub);
    if (this.link.open) this.sendSub(sub);
    return { ready, unsubscribe: () => this.unsubscribe(sub) };
  }

  async flush(): Promise<void> {
    if (this.link.closed) return;
    // A round trip: once the hub answers, it has handed everything sent before to its bus.
    await this.link.request((id) => ({ op: 'flush', id }), { onLost: 'retry' });
  }

  queue(name: string, queueOptions?: QueueOptions): DurableQueue {
    this.assertOpen();
    resolveQueueOptions(name, queueOptions); // the same checks, thrown here, as a local queue
    // The hub's queue keeps its own time: a clock of this process does not travel.
    const { clock: _clock, ...wire } = queueOptions ?? {};
    return contractQueue(
      new RemoteQueue(
        name,
        wireQueueOptions(queueOptions === undefined ? undefined : wire),
        this.link,
      ),
    );
  }

  status(): AsyncIterable<TransportStatus> {
    return this.link.status.iterate();
  }

  close(): Promise<void> {
    return this.link.close();
  }

  private assertOpen(): void {
    if (this.link.closed) throw new ClosedError('ws transport');
  }

  private write(bytes: Uint8Array): void {
    if (this.link.bufferedAmount + bytes.byteLength > this.maxBufferedBytes) {
      throw new OverloadedError('the link to the hub is backed up; publish later');
    }
    this.link.writeBytes(bytes);
  }

  private hold(bytes: Uint8Array): void {
    if (this.outboxBytes + bytes.byteLength > this.maxBufferedBytes) {
      throw new UnavailableError(
        'not connected to the hub, and the buffer for publishes made meanwhile is full',
      );
    }
    this.outbox.push(bytes);
    this.outboxBytes += bytes.byteLength;
  }

  private unsubscribe(sub: ClientSub): void {
    if (this.subs.get(sub.sid) !== sub) return;
    this.subs.delete(sub.sid);
    if (this.link.open) this.link.write({ op: 'unsub', sid: sub.sid });
    sub.confirm();
  }

  private sendSub(sub: ClientSub): void {
    const queue = sub.queue === undefined ? {} : { queue: sub.queue };
    this.link
      .request((id) => ({ op: 'sub', id, sid: sub.sid, pattern: sub.pattern, ...queue }), {
        onLost: 'drop', // sent again with every other subscription when the link is back
      })
      .then(
        () => sub.confirm(),
        (err: unknown) => {
          if (this.subs.get(sub.sid) !== sub) return;
          this.subs.delete(sub.sid);
          sub.fail(err as Error);
          this.onError(err);
        },
      );
  }

  private onOpen(): void {
    // Subscriptions first, so publishes held meanwhile reach them, and in the order made.
    for (const sub of this.subs.values()) this.sendSub(sub);
    for (const bytes of this.outbox) this.link.writeBytes(bytes);
    this.clearOutbox();
  }

  private onMessage(sids: readonly number[], frame: Uint8Array): void {
    // Decoded once however many subscriptions it is for.
    let env: Envelope | undefined;
    for (const sid of sids) {
      const sub = this.subs.get(sid);
      if (sub === undefined) continue; // unsubscribed while the message was on its way
      if (env === undefined) {
        try {
          env = this.codec.decode(frame);
        } catch (err) {
          this.onError(err);
          return;
        }
      }
      try {
        sub.handler(env);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  private onShutdown(err: Error): void {
    for (const sub of this.subs.values()) sub.fail(err);
    this.subs.clear();
    this.clearOutbox();
  }

  private clearOutbox(): void {
    this.outbox = [];
    this.outboxBytes = 0;
  }
}

/** The hub's URL from the options: ws:// or wss://, and wss:// when TLS options are given. */
function hubUrl(options: WebSocketTransportOptions): URL {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (cause) {
    throw new ConfigError(`invalid hub url '${options.url}'`, { cause });
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new ConfigError(`hub url must be ws:// or wss://, got '${options.url}'`);
  }
  if (options.tls !== undefined && url.protocol !== 'wss:') {
    throw new ConfigError(
      `hub url must be wss:// when TLS options are given, got '${options.url}'`,
    );
  }
  return url;
}
