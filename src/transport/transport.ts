// The Transport seam: what the bus needs from anything that moves envelopes. Small on purpose;
// each adapter keeps its broker's knobs in its own options. The semantics every adapter must
// give are pinned by test/conformance (run against each transport unchanged).
//
// Adapter style: a transport is made by `create<Name>Transport(options)`, the public entry,
// which returns a class implementing Transport (`NatsTransport`, `RedisTransport`,
// `RabbitMqTransport`, `WebSocketClientTransport`; the bus hub is `WebSocketBusHub`). Its
// constructor, or a `static async open()` where connecting comes first, checks the options and
// wires the parts; its methods stay short, with broker steps in helpers beside it. (Memory and
// sqlite, a few lines of wiring each, return an object literal.) Each durable queue is a class
// implementing DurableQueue in the same way (`MemoryQueue`, `SqliteQueue`, `NatsQueue`,
// `RedisQueue`, `AmqpQueue`, `RemoteQueue`), and `queue()` returns it wrapped by `contractQueue`
// (queue-contract.ts), which checks every argument the same way everywhere.
//
// Record stores (records.ts) live on each transport's natural durable store, wrapped by
// `contractRecords` (records-contract.ts): memory in a Map, sqlite in a table of its file, nats
// in a JetStream KV bucket per store, redis in plain keys with PX expiry. RabbitMQ has no keyed
// store, so the amqp transport has no `records`; nor has the WebSocket client transport, whose
// hub offers none. A caller that needs one there keeps a sqlite store of its own.
import type { Envelope, WireErrorBody } from '../protocol/index.js';
import type { Clock } from './clock.js';
import type { BlobStore } from './blobs.js';
import type { RecordStore, RecordStoreOptions } from './records.js';
import type { LimitStore } from './limits.js';

export type TransportStatus =
  | { type: 'connecting' }
  | { type: 'connected' }
  | { type: 'disconnected'; error?: Error }
  | { type: 'reconnecting'; attempt: number }
  | { type: 'error'; error: Error }
  | { type: 'closed' };

export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group instead of all. */
  queue?: string;
}

export interface TransportSubscription {
  /** Resolves once the subscription is registered with the broker and will see new messages. */
  readonly ready: Promise<void>;
  unsubscribe(): void;
}

export type MessageHandler = (env: Envelope) => void;

export interface Transport {
  /** Short name for logs and status (e.g. 'memory', 'sqlite', 'nats'). */
  readonly name: string;
  /** Largest encoded frame the transport carries in one message (Infinity when unbounded). */
  readonly maxMessageBytes: number;
  /**
   * Who the far side takes this peer to be, when it says (a bus hub's `hello`): its `source`
   * and `tenant` are stamped on every envelope sent (docs/security.md).
   */
  readonly identity?:
    | {
        readonly name: string;
        readonly role: string;
        readonly source: string;
        readonly tenant?: string | undefined;
      }
    | undefined;

  /**
   * Fire-and-forget publish to every matching subscription (one member per queue group). When
   * `env.replyTo` is set and nothing matches, the transport delivers an `error` envelope with
   * code `no_responders` and `corr` = `env.id` to `env.replyTo` (the NATS no-responders rule).
   */
  publish(env: Envelope): void;

  /** Subscribes to a subject pattern: tokens split on '.', '*' matches one, '>' the rest. */
  subscribe(
    pattern: string,
    handler: MessageHandler,
    options?: SubscribeOptions,
  ): TransportSubscription;

  /** Resolves when everything published so far has left this process (or been delivered). */
  flush(): Promise<void>;

  /** Opens (creating if needed) a durable queue. */
  queue(name: string, options?: QueueOptions): DurableQueue;

  /**
   * Opens (creating if needed) a keyed record store. Two stores of one name on transports
   * reaching the same broker (or file) hold the same records. Absent where the transport has no
   * keyed store (amqp, the WebSocket client).
   */
  records?(name: string, options?: RecordStoreOptions): RecordStore;

  /**
   * Opens a store of token buckets on the broker (limits.ts), shared by every transport
   * reaching the same broker. Absent where the transport has no shared store of its own
   * (memory, sqlite, amqp, the WebSocket client): rate limits there stay per process.
   */
  limits?(name: string): LimitStore;

  /**
   * The transport's blob store (blobs.ts): the same store for every caller of one transport,
   * shared by every transport reaching the same broker (or file). Absent where the transport
   * has no store of its own; `bus.blobs` then reaches a blob service over the bus.
   */
  blobs?(): BlobStore;

  /** Connection status changes, in order. Ends when the transport is closed. */
  status(): AsyncIterable<TransportStatus>;

  close(): Promise<void>;
}

/** Retry timing: delay(attempt) = min(maxMs, initialMs * multiplier^(attempt-1)) * (1 ± jitter). */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  multiplier: number;
  /** 0..1: fraction of the delay randomised ("equal jitter" around the value). */
  jitter: number;
}

export type { Clock } from './clock.js';

export interface QueueOptions {
  /** How long a delivery is leased to a consumer before it is redelivered. Default 30 s. */
  leaseMs?: number;
  /** Deliveries before a message goes to the dead-letter queue. Default 5. */
  maxAttempts?: number;
  backoff?: Partial<BackoffOptions>;
  /** Window in which a second enqueue of the same message id is ignored. Default 2 min. */
  dedupWindowMs?: number;
  /** Most messages held (ready + leased + delayed); enqueue past it fails `overloaded`. Default unbounded. */
  maxDepth?: number;
  /**
   * Where the queue reads the time for leases, delays, backoff, TTL and dedup windows. Default
   * `Date.now`. Only memory and sqlite read it; the broker transports keep queue time where a
   * clock of this process cannot move it (nats: JetStream AckWait and nak delays; redis: the
   * server's TIME in its scripts; amqp: RabbitMQ message TTLs for delays and expiry).
   */
  clock?: Clock;
}

export type ResolvedQueueOptions = Required<Omit<QueueOptions, 'backoff' | 'maxDepth'>> & {
  backoff: BackoffOptions;
  maxDepth: number;
};

export interface EnqueueOptions {
  /** Not deliverable before this many ms from now. */
  delayMs?: number;
  /** Dead-lettered with reason `expired` if not acked within this many ms. The envelope's
   * `deadline`, when set and sooner, wins. */
  ttlMs?: number;
}

export interface EnqueueResult {
  id: string;
  /** True when the id was already enqueued inside the dedup window; nothing new was stored. */
  duplicate: boolean;
}

export interface ReceiveOptions {
  /** Most deliveries returned. */
  max: number;
  /** Wait up to this long for the first message when none is ready. 0 returns at once. */
  waitMs: number;
  signal?: AbortSignal;
}

export interface NackOptions {
  /** Redeliver after this delay instead of the backoff policy's. */
  delayMs?: number;
  /** What went wrong, kept for the dead letter if this was the last attempt. */
  error?: WireErrorBody;
}

/** One leased delivery of a queued message. */
export interface Delivery {
  /** The message; `attempt` is 1 on the first delivery. */
  readonly envelope: Envelope;
  readonly attempt: number;
  /** ms epoch at which the lease ends and the message is redelivered. */
  readonly leaseUntil: number;
  /** Done: removes the message. Resolves once that is durable. Idempotent. */
  ack(): Promise<void>;
  /** Failed: redeliver after backoff (or `delayMs`), or dead-letter once attempts are used up. */
  nack(options?: NackOptions): Promise<void>;
  /** Keeps the lease for `ms` more from now. Fails (`not_found`) if the lease was lost. */
  extend(ms: number): Promise<void>;
  /** Sends straight to the dead-letter queue with reason `rejected` (a poison message). */
  reject(error: WireErrorBody): Promise<void>;
}

export type DeadLetterReason = 'max_attempts' | 'expired' | 'rejected';

export interface DeadLetter {
  readonly envelope: Envelope;
  readonly reason: DeadLetterReason;
  readonly attempts: number;
  readonly error?: WireErrorBody;
  /** ms epoch */
  readonly deadAt: number;
}

export interface QueueStats {
  ready: number;
  delayed: number;
  leased: number;
  dead: number;
}

/**
 * A durable queue: at-least-once delivery with leases. Order of delivery: highest `prio` first;
 * within a priority, enqueue order; and per `key`, strictly one at a time in enqueue order (the
 * next message of a key is not delivered until the one before it is acked or dead-lettered).
 */
export interface DurableQueue {
  readonly name: string;
  /** Stores the message; resolves once it is durable (survives a crash of this process). */
  enqueue(env: Envelope, options?: EnqueueOptions): Promise<EnqueueResult>;
  receive(options: ReceiveOptions): Promise<Delivery[]>;
  stats(): Promise<QueueStats>;
  deadLetters(options?: { limit?: number }): Promise<DeadLetter[]>;
  /** Moves dead letters (all, or those ids) back to the queue with attempts reset; returns how many. */
  replayDeadLetters(ids?: string[]): Promise<number>;
  /** Deletes dead letters (all, or those ids); returns how many. */
  purgeDeadLetters(ids?: string[]): Promise<number>;
}
