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
import type { MessageHandler, Transport } from '../transport.js';
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
  const tls = options.tls === undefined ? {} : clientTlsOptions(options.tls, 'ws transport tls');
  const codec = options.codec ?? createCodec({ open: false });
  const maxBufferedBytes = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  const onError = options.onError ?? ((err) => console.error('llmwire ws transport:', err));
  const subs = new Map<number, ClientSub>();
  let outbox: Uint8Array[] = [];
  let outboxBytes = 0;
  let nextSid = 0;

  const link: HubConnection = new HubConnection(
    {
      url,
      token: options.token,
      tls,
      name: options.name,
      codec,
      backoff:
        options.reconnect === false
          ? undefined
          : { initialMs: 100, maxMs: 5000, ...options.reconnect, multiplier: 2, jitter: 0.2 },
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      onError,
    },
    {
      onOpen() {
        // Subscriptions first, so publishes held meanwhile reach them, and in the order made.
        for (const sub of subs.values()) sendSub(sub);
        for (const bytes of outbox) link.writeBytes(bytes);
        outbox = [];
        outboxBytes = 0;
      },
      onMessage(sids, frame) {
        // Decoded once however many subscriptions it is for.
        let env: Envelope | undefined;
        for (const sid of sids) {
          const sub = subs.get(sid);
          if (sub === undefined) continue; // unsubscribed while the message was on its way
          if (env === undefined) {
            try {
              env = codec.decode(frame);
            } catch (err) {
              onError(err);
              return;
            }
          }
          try {
            sub.handler(env);
          } catch (err) {
            onError(err);
          }
        }
      },
      onShutdown(err) {
        for (const sub of subs.values()) sub.fail(err);
        subs.clear();
        outbox = [];
        outboxBytes = 0;
      },
    },
  );

  function sendSub(sub: ClientSub): void {
    const queue = sub.queue === undefined ? {} : { queue: sub.queue };
    link
      .request((id) => ({ op: 'sub', id, sid: sub.sid, pattern: sub.pattern, ...queue }), {
        onLost: 'drop', // sent again with every other subscription when the link is back
      })
      .then(
        () => sub.confirm(),
        (err: unknown) => {
          if (subs.get(sub.sid) !== sub) return;
          subs.delete(sub.sid);
          sub.fail(err as Error);
          onError(err);
        },
      );
  }

  const assertOpen = () => {
    if (link.closed) throw new ClosedError('ws transport');
  };

  return {
    name: 'ws',
    get maxMessageBytes() {
      return Math.min(codec.maxFrameBytes, link.hubMaxFrameBytes);
    },
    get peerId() {
      return link.peerId;
    },
    get identity() {
      return link.identity;
    },
    publish(env) {
      assertOpen();
      checkSubject(env.subject);
      // Stamped here as the hub would stamp it, so the frame goes on as sent (and a signature
      // over it stays valid).
      const identity = link.identity;
      if (identity !== undefined && env.sig === undefined) {
        env.source = identity.source;
        if (identity.tenant !== undefined) env.tenant = identity.tenant;
      }
      const frame = codec.encode(env);
      const limit = link.hubMaxFrameBytes;
      if (frame.byteLength > limit) {
        throw new PayloadTooLargeError(
          `frame of ${frame.byteLength} bytes exceeds the hub's ${limit}-byte limit`,
          { details: { size: frame.byteLength, limit } },
        );
      }
      const bytes = encodeRecord({ op: 'pub', frame });
      if (link.open) {
        if (link.bufferedAmount + bytes.byteLength > maxBufferedBytes) {
          throw new OverloadedError('the link to the hub is backed up; publish later');
        }
        link.writeBytes(bytes);
        return;
      }
      if (outboxBytes + bytes.byteLength > maxBufferedBytes) {
        throw new UnavailableError(
          'not connected to the hub, and the buffer for publishes made meanwhile is full',
        );
      }
      outbox.push(bytes);
      outboxBytes += bytes.byteLength;
    },
    subscribe(pattern, handler, subOptions = {}) {
      assertOpen();
      checkPattern(pattern);
      const sid = ++nextSid;
      let confirm!: () => void;
      let fail!: (err: Error) => void;
      const ready = new Promise<void>((resolve, reject) => {
        confirm = resolve;
        fail = reject;
      });
      ready.catch(() => undefined); // a caller who never awaits `ready` must not see it reject
      const sub: ClientSub = { sid, pattern, queue: subOptions.queue, handler, confirm, fail };
      subs.set(sid, sub);
      if (link.open) sendSub(sub);
      return {
        ready,
        unsubscribe() {
          if (subs.get(sid) !== sub) return;
          subs.delete(sid);
          if (link.open) link.write({ op: 'unsub', sid });
          confirm();
        },
      };
    },
    async flush() {
      if (link.closed) return;
      // A round trip: once the hub answers, it has handed everything sent before to its bus.
      await link.request((id) => ({ op: 'flush', id }), { onLost: 'retry' });
    },
    queue(name, queueOptions) {
      assertOpen();
      resolveQueueOptions(name, queueOptions); // the same checks, thrown here, as a local queue
      // The hub's queue keeps its own time: a clock of this process does not travel.
      const { clock: _clock, ...wire } = queueOptions ?? {};
      return contractQueue(
        new RemoteQueue(
          name,
          wireQueueOptions(queueOptions === undefined ? undefined : wire),
          link,
        ),
      );
    },
    status: () => link.status.iterate(),
    close: () => link.close(),
  };
}
