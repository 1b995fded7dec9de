// The amqp transport: llmwire on RabbitMQ (AMQP 0-9-1, no plugins). Subjects ride a topic
// exchange; durable queues are classic queues with publisher confirms, manual acks and a
// prefetch, and the adapter does leases, retries, delays, dedup and per-key order where the
// broker has no such thing. Where that falls short of the reference semantics:
// - Dedup: RabbitMQ keeps no message ids. A transport remembers the ids it enqueued (for
//   dedupWindowMs, and past it until it sees them acked or dead-lettered), and a consumer the
//   ids it acked, in memory; two processes enqueueing one id both store it (a consumer that
//   already completed the id drops the second copy).
// - Per-key order: keyed messages go to a queue with a single active consumer, so one process
//   at a time works through all keys (the others stand by) and holds a key's head, retries
//   included, until it is acked or dead. Keyed messages are FIFO: priority only orders heads.
// - maxDepth: x-max-length on the unkeyed and keyed intake queues each, which RabbitMQ counts
//   in ready messages only; enqueue also counts the leased and delayed ones this process holds
//   (a stats round trip per enqueue on a bounded queue). Those held by other processes do not
//   count.
// - Stats: ready comes from the broker; leased and delayed are what this process holds.
// - Attempts are counted in a header the adapter writes on a retry; a delivery lost with its
//   process or connection comes back with the same count.
// - Acks are not confirmed by AMQP: after a broker crash an acked message may come back.
import type { SecureContextOptions } from 'node:tls';
import type { Channel } from 'amqplib';
import { Type } from '@sinclair/typebox';
import { createCodec, type Codec } from '../../codec/codec.js';
import { ClosedError, ConfigError, optionsCheck, type Envelope } from '../../protocol/index.js';
import { contractQueue } from '../queue-contract.js';
import { resolveQueueOptions } from '../queue-policy.js';
import { checkSubject } from '../subject.js';
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
import { AdminChannel } from './admin.js';
import { AmqpLink, type LinkOptions } from './connection.js';
import { DelayLadder } from './delay.js';
import { toBuffer } from './message.js';
import { checkRoutingKey, Names } from './names.js';
import { Publisher } from './publisher.js';
import { Subscriptions } from './pubsub.js';
import { AmqpQueue } from './queue.js';

export interface AmqpTransportOptions {
  /** e.g. `amqp://guest:guest@127.0.0.1:5672` (amqps:// for TLS). */
  url: string;
  /**
   * The topic exchange subjects are published to, and the prefix of every queue and exchange
   * this transport declares, so deployments sharing a vhost stay apart. Default 'llmwire'.
   */
  exchange?: string;
  /** Unacked messages each durable-queue consumer may hold (per AMQP consumer). Default 32. */
  prefetch?: number;
  /** Codec for frames this transport writes; it reads both encodings. Default JSON. */
  codec?: Codec;
  /** Reconnect delays (exponential with jitter), or `false` to give up when the link drops. */
  reconnect?: { initialMs?: number; maxMs?: number } | false;
  /** AMQP heartbeat, to notice a dead broker or network. Default 10 s. */
  heartbeatSeconds?: number;
  /** Time allowed to open the TCP connection. Default 10 s. */
  connectTimeoutMs?: number;
  /** User and password (SASL PLAIN), instead of those in the URL. */
  credentials?: { user: string; password: string };
  /** Virtual host, instead of the URL's path. */
  vhost?: string;
  /** TLS (an amqps:// url): the CA to trust and a client certificate when the broker verifies peers. */
  tls?: ClientTlsOptions;
  /** Shown by the broker for this connection (`rabbitmqctl list_connections client_properties`). */
  connectionName?: string;
  /** Bytes of publishes held while disconnected or backed up. Default 8 MiB. */
  maxBufferedBytes?: number;
  /** Durable writes awaiting confirms before the next one waits. Default 512 and 16 MiB. */
  confirmWindow?: { messages?: number; bytes?: number };
  /** A queue consumer idle this long gives its buffered messages back. Default 30 s. */
  consumerIdleMs?: number;
  /**
   * Delete every queue and exchange this transport declared when it closes, dead letters and
   * all. For tests and demos with an `exchange` of their own; never for a shared namespace.
   */
  deleteOnClose?: boolean;
  /** Errors with nowhere else to go: a handler threw, a frame did not decode. Default: stderr. */
  onError?: (error: unknown) => void;
}

export interface AmqpTransport extends Transport {
  /** Resolves on the first connection to the broker; rejects if the transport closes first. */
  readonly ready: Promise<void>;
}

const MANDATORY = { mandatory: true } as const;

const Count = Type.Optional(Type.Integer({ minimum: 1 }));
/** The numeric knobs; the rest (url, tls, codec) are checked where they are used. */
const checkCounts = optionsCheck(
  'amqp transport',
  Type.Object({
    prefetch: Count,
    confirmWindow: Type.Optional(Type.Object({ messages: Count, bytes: Count })),
    consumerIdleMs: Count,
  }),
);

export function createAmqpTransport(options: AmqpTransportOptions): AmqpTransport {
  return new RabbitMqTransport(options);
}

/** One AmqpLink shared by the subscriptions, the confirming publisher and an AmqpQueue per name. */
class RabbitMqTransport implements AmqpTransport {
  readonly name = 'amqp';
  readonly maxMessageBytes: number;
  readonly ready: Promise<void>;
  private readonly codec: Codec;
  private readonly names: Names;
  private readonly onError: (error: unknown) => void;
  private readonly link: AmqpLink;
  private readonly pubsub: Subscriptions;
  private readonly publisher: Publisher;
  private readonly admin: AdminChannel;
  private readonly ladder: DelayLadder;
  private readonly queues = new Map<string, AmqpQueue>();
  /** Subjects already checked as subjects and routing keys. */
  private readonly subjects = new Set<string>();
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: AmqpTransportOptions) {
    const tls = checkUrl(options);
    this.names = new Names(options.exchange ?? 'llmwire');
    this.codec = options.codec ?? createCodec({ open: false });
    checkCounts(options);
    this.maxMessageBytes = this.codec.maxFrameBytes;
    this.onError = options.onError ?? ((err) => console.error('llmwire amqp transport:', err));
    this.link = new AmqpLink(linkOptions(options, tls, this.onError));
    this.ready = this.link.ready;
    this.pubsub = new Subscriptions(this.link, this.names, this.codec, (err) => this.onError(err));
    this.publisher = new Publisher(this.link, {
      maxBufferedBytes: options.maxBufferedBytes ?? 8 * 1024 * 1024,
      windowMessages: options.confirmWindow?.messages ?? 512,
      windowBytes: options.confirmWindow?.bytes ?? 16 << 20,
      setup: async (ch) =>
        void (await ch.assertExchange(this.names.exchange, 'topic', { durable: true })),
      onReturn: (msg) => this.returned(msg.content),
    });
    this.admin = new AdminChannel(this.link);
    this.ladder = new DelayLadder(this.names, this.admin);
  }

  publish(env: Envelope): void {
    this.assertOpen();
    const subject = env.subject;
    if (!this.subjects.has(subject)) {
      checkSubject(subject);
      checkRoutingKey(subject);
      if (this.subjects.size >= 10_000) this.subjects.clear();
      this.subjects.add(subject);
    }
    const frame = toBuffer(this.codec.encode(env));
    // A request is published mandatory: if no queue takes it, the broker returns it and the
    // requester gets `no_responders` (see returned) instead of waiting for its deadline.
    const withReply = env.replyTo !== undefined && env.kind !== 'error';
    this.publisher.publish(this.names.exchange, subject, frame, withReply ? MANDATORY : undefined);
  }

  subscribe(
    pattern: string,
    handler: MessageHandler,
    options?: SubscribeOptions,
  ): TransportSubscription {
    this.assertOpen();
    return this.pubsub.subscribe(pattern, handler, options);
  }

  flush(): Promise<void> {
    return this.publisher.flush();
  }

  queue(name: string, queueOptions?: QueueOptions): DurableQueue {
    this.assertOpen();
    const resolved = resolveQueueOptions(name, queueOptions);
    let q = this.queues.get(name);
    if (q === undefined) {
      q = new AmqpQueue(name, resolved, {
        link: this.link,
        admin: this.admin,
        publisher: this.publisher,
        ladder: this.ladder,
        codec: this.codec,
        names: this.names,
        prefetch: this.options.prefetch ?? 32,
        idleMs: this.options.consumerIdleMs ?? 30_000,
        onError: this.onError,
        isClosed: () => this.closed,
      });
      this.queues.set(name, q);
    }
    return contractQueue(q);
  }

  status(): AsyncIterable<TransportStatus> {
    return this.link.status.iterate();
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('amqp transport');
    const failed = this.link.failed; // reconnecting was turned off or gave up
    if (failed !== undefined) throw failed;
  }

  /** A mandatory publish no queue took: its requester gets `no_responders`. */
  private returned(content: Buffer): void {
    let env: Envelope;
    try {
      env = this.codec.decode(content);
    } catch {
      return; // not one of ours to answer for
    }
    this.pubsub.noResponders(env);
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    // Retries and dead letters on their way get their confirms while the consumer channels
    // can still ack the originals; then the consumers close, and what they hold unacked goes
    // back to the broker with their channels.
    await this.publisher.confirmedWithin(5000);
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await this.publisher.close(5000);
    await this.pubsub.close();
    if (this.options.deleteOnClose === true && this.link.current !== undefined) {
      await this.admin.run((ch) => this.deleteAll(ch)).catch((err: unknown) => this.onError(err));
    }
    await this.admin.close();
    await this.link.close();
  }

  private async deleteAll(ch: Channel): Promise<void> {
    for (const q of this.queues.values()) {
      for (const name of Object.values(q.names)) await ch.deleteQueue(name);
    }
    await this.ladder.delete(ch);
    await ch.deleteExchange(this.names.exchange);
  }
}

/** Checks the url's scheme against the TLS options; returns the checked TLS options. */
function checkUrl(options: AmqpTransportOptions): SecureContextOptions {
  if (typeof options.url !== 'string' || !/^amqps?:\/\//.test(options.url)) {
    throw new ConfigError('amqp transport url must start with amqp:// or amqps://');
  }
  if (options.tls !== undefined && !options.url.startsWith('amqps://')) {
    throw new ConfigError('amqp transport url must be amqps:// when TLS options are given');
  }
  return options.tls === undefined ? {} : clientTlsOptions(options.tls, 'amqp transport tls');
}

function linkOptions(
  options: AmqpTransportOptions,
  tls: SecureContextOptions,
  onError: (error: unknown) => void,
): LinkOptions {
  const reconnect = options.reconnect;
  return {
    url: options.url,
    reconnect:
      reconnect === false
        ? false
        : { initialMs: reconnect?.initialMs ?? 100, maxMs: reconnect?.maxMs ?? 5000 },
    heartbeatSeconds: options.heartbeatSeconds ?? 10,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    connectionName: options.connectionName,
    credentials: options.credentials,
    vhost: options.vhost,
    tls,
    onError,
  };
}
