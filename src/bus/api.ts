// The bus as applications see it: the options a bus is created with and the `Bus` interface,
// every call an application, a gateway, a worker or a test makes on it. createBus (bus.ts)
// returns one; nothing else of the implementation is public.
import type { Envelope } from '../protocol/index.js';
import type { BlobStore } from '../transport/blobs.js';
import type { QueueOptions, Transport } from '../transport/transport.js';
import type { Blobs } from './blobs.js';
import type { CoalesceOptions } from './coalesce.js';
import type { Message } from './message.js';
import type { PublishOptions, RequestOptions, ServeOptions, HandlerContext } from './options.js';
import type { BusQueue } from './queue.js';
import type { BusSecurity } from './security.js';
import type { ResponseStream } from './stream.js';
import type { Subscription, SubscriptionOptions } from './subscription.js';

export interface BusOptions {
  transport: Transport;
  /** Identity stamped as `source` on every envelope this bus sends. */
  source?: string;
  /**
   * Subject prefix of this bus's inbox (`PREFIX.<random>`). Default `_INBOX`. On a broker whose
   * users are confined by subject permissions, give each user its own (e.g.
   * `_INBOX.tenant-a`) and allow it to subscribe only there (docs/security.md).
   */
  inboxPrefix?: string;
  /** Request timeout when neither `timeoutMs` nor `deadline` is given. Default 30 s. */
  defaultTimeoutMs?: number;
  /** Chunks a stream reader lets the responder send ahead (the credit window). Default 64. */
  streamCredit?: number;
  /**
   * Stream items this bus serves that are written within `maxDelayMs` of each other go out as
   * one message to readers that accept it (docs/protocol.md, "Coalesced items"). By default
   * (`maxDelayMs: 0`) only items written in the same turn of the event loop go together, which
   * delays none of them; `false` sends one message per item.
   */
  coalesce?: CoalesceOptions | false;
  /**
   * End-to-end checksums, signatures and encryption of the messages this bus sends and receives
   * (docs/protocol.md, "Sealed frames"). Messages that fail to open are dropped and reported
   * through `onError`; a request that fails is answered with the typed error.
   */
  security?: BusSecurity;
  /**
   * The store under `bus.blobs`. Default: the transport's own (`transport.blobs()`); a
   * transport with none reaches a blob service over the bus.
   */
  blobs?: BlobStore;
  /** Errors with nowhere else to go (a handler threw, a bad message was dropped). */
  onError?: (error: unknown, context: { subject?: string; id?: string }) => void;
}

/** Returns the reply body (or a promise of it), or an async iterable of items to stream. */
export type ServeHandler = (request: Message, ctx: HandlerContext) => unknown;

export interface Bus {
  /** The transport this bus was given. */
  readonly transport: Transport;
  /** Identity stamped as `source` on every envelope this bus sends. */
  readonly source: string | undefined;
  /** The subject replies and stream control messages to this bus are sent to. */
  readonly inbox: string;
  /** Resolves when the bus's inbox is registered and replies can reach it. */
  readonly ready: Promise<void>;

  /** Builds an envelope stamped with this bus's source (to send later with `send`). */
  envelope<B>(subject: string, body: B, options?: PublishOptions): Envelope<B>;
  /** Publishes a message; returns the envelope sent. */
  publish<B>(subject: string, body: B, options?: PublishOptions): Envelope<B>;
  /** Publishes a ready-made envelope. */
  send(env: Envelope): void;
  /**
   * Subscribes to a subject pattern. With a handler, it is called per message; without, the
   * returned subscription is an async iterable of messages.
   */
  subscribe<B = unknown>(
    pattern: string,
    handler?: (msg: Message<B>) => unknown,
    options?: SubscriptionOptions,
  ): Subscription<B>;
  /** Sends a request and resolves with the reply; rejects with the reply's typed error. */
  request<R = unknown>(
    subject: string,
    body: unknown,
    options?: RequestOptions,
  ): Promise<Message<R>>;
  /** Sends a request whose reply is a stream of items, read with `for await`. */
  stream<C = unknown, R = unknown>(
    subject: string,
    body: unknown,
    options?: RequestOptions & { credit?: number },
  ): ResponseStream<C, R>;
  /**
   * Answers requests on `subject`. The handler returns the reply body, or an async iterable
   * (e.g. an async generator) whose items are streamed and whose return value ends the stream.
   */
  serve(subject: string, handler: ServeHandler, options?: ServeOptions): Subscription;
  /** Large payloads as checksummed parts and a manifest on the bus's blob store. */
  readonly blobs: Blobs;
  /** A durable queue on this bus's transport. */
  queue<B = unknown>(name: string, options?: QueueOptions): BusQueue<B>;
  /** Hands an error with nowhere else to go to the bus's `onError`. */
  reportError(error: unknown, env?: Envelope): void;
  /** Closes the bus: pending requests fail with ClosedError, handlers' signals fire. */
  close(): Promise<void>;
}
