// The bus: publish/subscribe, request/reply with deadlines, streamed replies with credit-based
// flow control, and durable queues, over any Transport. Applications talk to this; nothing here
// knows which transport carries the messages.
import { randomBytes } from 'node:crypto';
import {
  CancelledError,
  ClosedError,
  ConfigError,
  createEnvelope,
  createId,
  PROTOCOL_VERSION,
  DeadlineExceededError,
  errorFromWire,
  ForbiddenError,
  toWireError,
  UnknownKindError,
  validateBody,
  type Envelope,
  type EnvelopeInit,
} from '../protocol/index.js';
import { copyFrameEncoding } from '../codec/frame-encoding.js';
import { checkSubject } from '../transport/subject.js';
import type { QueueOptions, Transport } from '../transport/transport.js';
import { DeadlineTimer, type DeadlineHandle } from './deadlines.js';
import { resolveCoalesce, type CoalesceOptions, type ResolvedCoalesce } from './coalesce.js';
import { BusMessage, type Message } from './message.js';
import { BusQueue } from './queue.js';
import { answerable, BusSealer, type BusSecurity, type OpenScope } from './security.js';
import { StreamServer } from './serve.js';
import { fromExpected, StreamClient, type ResponseStream } from './stream.js';
import { Subscription, type SubscriptionOptions } from './subscription.js';

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
   * one message to readers that accept it (docs/protocol.md, "Coalesced items"). Off by default.
   */
  coalesce?: CoalesceOptions;
  /**
   * End-to-end checksums, signatures and encryption of the messages this bus sends and receives
   * (docs/protocol.md, "Sealed frames"). Messages that fail to open are dropped and reported
   * through `onError`; a request that fails is answered with the typed error.
   */
  security?: BusSecurity;
  /** Errors with nowhere else to go (a handler threw, a bad message was dropped). */
  onError?: (error: unknown, context: { subject?: string; id?: string }) => void;
}

export type PublishOptions = Omit<EnvelopeInit, 'kind' | 'subject' | 'body'> & { kind?: string };

export interface RequestOptions extends PublishOptions {
  /** Milliseconds to wait for the reply; ignored when `deadline` is set. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Accept replies (and stream items) only with this `source`: the responder the request was
   * sent to. Others are dropped and reported (`forbidden`), so a peer that learns the inbox
   * cannot answer in the responder's place. Error envelopes a transport makes itself (no
   * source: `no_responders`) are still accepted. Default: any source.
   */
  from?: string;
}

export interface ServeOptions {
  /** Queue group: each request goes to one of the group's members. */
  queue?: string;
  /** Accept only these kinds; bodies are checked against their schemas before the handler runs. */
  kinds?: string[];
  /** Kind of streamed items. Default: x.request -> x.chunk, otherwise 'event'. */
  chunkKind?: string;
  /** Kind of the reply / final stream message. Default: x.request -> x.result. */
  replyKind?: string;
}

export interface HandlerContext {
  /** Fires on cancellation by the requester, on the request's deadline, and on bus close. */
  readonly signal: AbortSignal;
}

/** Returns the reply body (or a promise of it), or an async iterable of items to stream. */
export type ServeHandler = (request: Message, ctx: HandlerContext) => unknown;

/** One request waiting for its reply; also its own deadline handle (no closure per request). */
class PendingRequest implements DeadlineHandle {
  bucket: Set<DeadlineHandle> | undefined;
  private done = false;

  constructor(
    private readonly bus: Bus,
    private readonly id: string,
    private readonly subject: string,
    private readonly onReply: (msg: Message) => void,
    private readonly onError: (err: Error) => void,
    private readonly signal: AbortSignal | undefined,
    readonly from: string | undefined,
  ) {
    signal?.addEventListener('abort', this, { once: true });
  }

  /** The deadline passed. */
  fire(): void {
    this.reject(new DeadlineExceededError(`no reply on '${this.subject}' before the deadline`));
  }

  /** The caller's signal fired. */
  handleEvent(): void {
    this.reject(new CancelledError('request was cancelled'));
  }

  resolve(msg: Message): void {
    if (this.finish()) this.onReply(msg);
  }

  reject(err: Error): void {
    if (this.finish()) this.onError(err);
  }

  private finish(): boolean {
    if (this.done) return false;
    this.done = true;
    this.bus.settled(this.id);
    this.bus.deadlines.cancel(this);
    this.signal?.removeEventListener('abort', this);
    return true;
  }
}

export class Bus {
  readonly transport: Transport;
  readonly source: string | undefined;
  /** The subject replies and stream control messages to this bus are sent to. */
  readonly inbox: string;
  readonly defaultTimeoutMs: number;
  readonly streamCredit: number;
  /** Chunk coalescing of streams this bus serves; undefined when off. */
  readonly coalesce: ResolvedCoalesce | undefined;
  readonly deadlines = new DeadlineTimer();
  private readonly pending = new Map<string, PendingRequest>();
  private readonly streams: StreamClient;
  private readonly server: StreamServer;
  private readonly onError: NonNullable<BusOptions['onError']>;
  private readonly subscriptions = new Set<Subscription>();
  /** Subjects already found valid: checking is a split and a regex per token. */
  private readonly checkedSubjects = new Set<string>();
  private readonly closeController = new AbortController();
  /** Seals what this bus sends, opens what it receives. */
  readonly sealer: BusSealer;
  private receivers = 0;
  private inboxSub;
  private closed = false;

  constructor(options: BusOptions) {
    if (options.transport === undefined) throw new ConfigError('a bus needs a transport');
    this.transport = options.transport;
    this.source = options.source;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000;
    this.streamCredit = options.streamCredit ?? 64;
    this.coalesce = resolveCoalesce(options.coalesce);
    if (!(this.defaultTimeoutMs > 0)) throw new ConfigError('defaultTimeoutMs must be positive');
    if (!Number.isInteger(this.streamCredit) || this.streamCredit < 1) {
      throw new ConfigError('streamCredit must be a positive integer');
    }
    this.sealer = new BusSealer(options.security);
    this.onError =
      options.onError ?? ((err, ctx) => console.error(`llmwire bus: ${ctx.subject ?? ''}`, err));
    const inboxPrefix = options.inboxPrefix ?? '_INBOX';
    checkSubject(inboxPrefix);
    this.inbox = `${inboxPrefix}.${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
    this.streams = new StreamClient(this);
    this.server = new StreamServer(this);
    this.inboxSub = this.transport.subscribe(this.inbox, (env) => this.onInbox(env));
  }

  /** Resolves when the bus's inbox is registered and replies can reach it. */
  get ready(): Promise<void> {
    return this.inboxSub.ready;
  }

  /** The signal that fires when the bus closes. */
  get closing(): AbortSignal {
    return this.closeController.signal;
  }

  assertOpen(): void {
    if (this.closed) throw new ClosedError('bus');
  }

  /**
   * Seals an outgoing envelope (when crypto is on). A transport that knows who its peer is on
   * the far side (a hub's identity) stamps source and tenant first, as the hub would: a signed
   * header cannot be restamped on the way.
   */
  seal(env: Envelope): Envelope {
    if (!this.sealer.sealing) return env;
    const identity = this.transport.identity;
    if (identity !== undefined) {
      env.source = identity.source;
      if (identity.tenant !== undefined) env.tenant = identity.tenant;
    }
    return this.sealer.seal(env);
  }

  /** Builds an envelope stamped with this bus's source. */
  envelope<B>(subject: string, body: B, options?: PublishOptions): Envelope<B> {
    if (options === undefined) {
      // The common case, built in one fixed shape: no spread, no key walk.
      const env: Envelope<B> = {
        v: PROTOCOL_VERSION,
        id: createId(),
        kind: 'event',
        subject,
        ts: Date.now(),
        body,
      };
      if (this.source !== undefined) env.source = this.source;
      return env;
    }
    const init: EnvelopeInit<B> = { ...options, kind: options.kind ?? 'event', subject, body };
    if (this.source !== undefined && init.source === undefined) init.source = this.source;
    return createEnvelope(init);
  }

  /** Publishes a message; returns the envelope sent. */
  publish<B>(subject: string, body: B, options?: PublishOptions): Envelope<B> {
    const env = this.envelope(subject, body, options);
    this.send(env);
    return env;
  }

  /** Publishes a ready-made envelope. */
  send(env: Envelope): void {
    if (this.closed) throw new ClosedError('bus');
    const subject = env.subject;
    if (!this.checkedSubjects.has(subject)) {
      checkSubject(subject);
      if (this.checkedSubjects.size >= 10_000) this.checkedSubjects.clear();
      this.checkedSubjects.add(subject);
    }
    this.transport.publish(this.seal(env));
  }

  /** @internal A name for one receiver of messages (a subscription): replay scope. */
  nextReceiver(): string {
    return `r${++this.receivers}`;
  }

  /**
   * @internal Opens a received envelope for `scope`; on failure reports it, answers a request
   * with the typed error (except a replay, whose answer would reach the genuine requester), and
   * returns undefined: the message is dropped.
   */
  open(env: Envelope, scope: OpenScope): Envelope | undefined {
    try {
      return this.sealer.open(env, scope);
    } catch (err) {
      this.reportError(err, env);
      if (env.replyTo !== undefined && env.replyTo !== this.inbox && answerable(err)) {
        this.message(env).respondError(err);
      }
      return undefined;
    }
  }

  /**
   * Subscribes to a subject pattern. With a handler, it is called per message; without, the
   * returned subscription is an async iterable of messages.
   */
  subscribe<B = unknown>(
    pattern: string,
    handler?: (msg: Message<B>) => unknown,
    options: SubscriptionOptions = {},
  ): Subscription<B> {
    this.assertOpen();
    const sub = new Subscription<B>(this, pattern, handler, options, () =>
      this.subscriptions.delete(sub),
    );
    this.subscriptions.add(sub);
    return sub;
  }

  /** Sends a request and resolves with the reply; rejects with the reply's typed error. */
  request<R = unknown>(
    subject: string,
    body: unknown,
    options?: RequestOptions,
  ): Promise<Message<R>> {
    let env: Envelope;
    let signal: AbortSignal | undefined;
    let from: string | undefined;
    if (options === undefined) {
      env = this.envelope(subject, body);
      env.deadline = env.ts + this.defaultTimeoutMs;
    } else {
      const { timeoutMs, signal: s, from: f, ...publishOptions } = options;
      signal = s;
      from = f;
      env = this.envelope(subject, body, publishOptions);
      env.deadline = options.deadline ?? env.ts + (timeoutMs ?? this.defaultTimeoutMs);
    }
    env.replyTo = this.inbox;
    return new Promise<Message<R>>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(new CancelledError('request was cancelled before it was sent'));
        return;
      }
      const entry = new PendingRequest(
        this,
        env.id,
        subject,
        resolve as (m: Message) => void,
        reject,
        signal,
        from,
      );
      this.pending.set(env.id, entry);
      this.deadlines.addHandle(env.deadline!, entry);
      try {
        this.send(env);
      } catch (err) {
        entry.reject(err as Error);
      }
    });
  }

  /** @internal Forgets a settled request. */
  settled(id: string): void {
    this.pending.delete(id);
  }

  /** Sends a request whose reply is a stream of items, read with `for await`. */
  stream<C = unknown, R = unknown>(
    subject: string,
    body: unknown,
    options: RequestOptions & { credit?: number } = {},
  ): ResponseStream<C, R> {
    return this.streams.open<C, R>(subject, body, options);
  }

  /**
   * Answers requests on `subject`. The handler returns the reply body, or an async iterable
   * (e.g. an async generator) whose items are streamed and whose return value ends the stream.
   */
  serve(subject: string, handler: ServeHandler, options: ServeOptions = {}): Subscription {
    return this.subscribe(subject, (msg) => this.server.handle(msg, handler, options), {
      queue: options.queue,
      kinds: options.kinds,
    });
  }

  /** A durable queue on this bus's transport. */
  queue<B = unknown>(name: string, options?: QueueOptions): BusQueue<B> {
    this.assertOpen();
    return new BusQueue<B>(this, this.transport.queue(name, options));
  }

  /** Wraps an envelope for handlers. */
  message<B>(env: Envelope<B>): Message<B> {
    return new BusMessage(this, env);
  }

  /** Sends a reply, reporting (not throwing) a failure: the requester's deadline covers it. */
  sendReply(reply: Envelope, requestId: string): void {
    try {
      this.send(reply);
    } catch (err) {
      this.onError(err, { subject: reply.subject, id: requestId });
    }
  }

  /** An answer to `request`: sent to its `replyTo`, correlated by its id. */
  replyEnvelope(
    request: Envelope,
    kind: string,
    body: unknown,
    extra?: Omit<Partial<EnvelopeInit>, 'kind' | 'subject' | 'body'>,
  ): Envelope {
    const env: Envelope = {
      v: PROTOCOL_VERSION,
      id: createId(),
      kind,
      subject: request.replyTo!,
      ts: Date.now(),
      corr: request.id,
      body,
    };
    if (this.source !== undefined) env.source = this.source;
    // Every reply, chunk and final message of a stream stays in the request's trace.
    if (request.traceparent !== undefined) env.traceparent = request.traceparent;
    if (request.tracestate !== undefined) env.tracestate = request.tracestate;
    if (request.tenant !== undefined) env.tenant = request.tenant;
    // Answers go back in the encoding the request came in (docs/protocol.md, "Default encoding").
    copyFrameEncoding(request, env);
    if (extra !== undefined) {
      for (const key in extra) {
        const value = (extra as Record<string, unknown>)[key];
        if (value !== undefined) (env as unknown as Record<string, unknown>)[key] = value;
      }
    }
    return env;
  }

  /** Checks kind and body when a subscription restricts kinds; throws typed errors. */
  validate(env: Envelope, kinds: readonly string[] | undefined): void {
    if (kinds === undefined) return;
    if (!kinds.includes(env.kind)) {
      throw new UnknownKindError(`this subscriber does not accept kind '${env.kind}'`, {
        details: { kind: env.kind, accepted: kinds },
      });
    }
    validateBody(env);
  }

  /** @internal A reply from someone other than the responder asked: dropped, and said so. */
  reportUnexpected(env: Envelope, from: string | undefined): void {
    this.reportError(
      new ForbiddenError(
        `dropped a reply to ${env.corr ?? '-'} from '${env.source ?? '(none)'}': only '${from ?? ''}' may answer it`,
      ),
      env,
    );
  }

  reportError(error: unknown, env?: Envelope): void {
    this.onError(error, { subject: env?.subject, id: env?.id });
  }

  private onInbox(received: Envelope): void {
    const corr = received.corr;
    if (corr === undefined) return;
    const env = this.openInbox(received);
    if (env === undefined) return;
    if (env.kind === 'control.cancel' || env.kind === 'control.credit') {
      this.server.onControl(env);
      return;
    }
    const pending = this.pending.get(corr);
    if (pending !== undefined) {
      if (!fromExpected(pending.from, env)) {
        this.reportUnexpected(env, pending.from);
        return;
      }
      if (env.kind === 'error') pending.reject(errorFromWire(env.body));
      else pending.resolve(this.message(env));
      return;
    }
    this.streams.onMessage(env);
  }

  /**
   * Opens a message to the inbox. Accepted unsigned: the `no_responders` errors transports make
   * themselves (no source). A reply whose signature is good but that cannot be opened here
   * (e.g. encrypted with a key this side lacks) fails its request with the typed error.
   */
  private openInbox(env: Envelope): Envelope | undefined {
    if (
      env.payload === undefined &&
      env.kind === 'error' &&
      env.source === undefined &&
      (env.body as { code?: unknown } | undefined)?.code === 'no_responders'
    ) {
      return env;
    }
    try {
      return this.sealer.open(env, { receiver: 'inbox' });
    } catch (err) {
      this.reportError(err, env);
      if (!this.sealer.authenticFailure(env, err)) return undefined;
      const { payload: _p, ct: _c, zip: _z, sum: _s, enc: _e, sig: _g, ...header } = env;
      return { ...header, kind: 'error', eos: true, body: toWireError(err).toWire() };
    }
  }

  /** Closes the bus: pending requests fail with ClosedError, handlers' signals fire. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closeController.abort(new ClosedError('bus'));
    this.server.abortAll(new ClosedError('bus'));
    this.inboxSub.unsubscribe();
    for (const sub of [...this.subscriptions]) sub.unsubscribe();
    for (const p of [...this.pending.values()]) p.reject(new ClosedError('bus'));
    this.streams.closeAll();
    this.deadlines.stop();
  }
}

export function createBus(options: BusOptions): Bus {
  return new Bus(options);
}
