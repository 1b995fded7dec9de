// The bus: publish/subscribe, request/reply with deadlines, streamed replies with credit-based
// flow control, and durable queues, over any Transport. Applications talk to this; nothing here
// knows which transport carries the messages.
import { Type } from '@sinclair/typebox';
import {
  CancelledError,
  ClosedError,
  DeadlineExceededError,
  errorFromWire,
  optionsCheck,
  toWireError,
  type Envelope,
} from '../protocol/index.js';
import type { BlobStore } from '../transport/blobs.js';
import type { QueueOptions, Transport } from '../transport/transport.js';
import type { Bus, BusOptions, ServeHandler } from './api.js';
import { remoteBlobStore } from './blob-remote.js';
import { Blobs } from './blobs.js';
import { CoalesceSchema, resolveCoalesce } from './coalesce.js';
import { BusCore } from './core.js';
import type { DeadlineHandle, DeadlineTimer } from './deadlines.js';
import type { Message } from './message.js';
import type { PublishOptions, RequestOptions, ServeOptions } from './options.js';
import { BusQueue } from './queue.js';
import { BusSecuritySchema } from './security.js';
import { StreamServer } from './serve.js';
import { fromExpected, StreamClient, type ResponseStream } from './stream.js';
import { Subscription, type SubscriptionOptions } from './subscription.js';

const checkCoalesce = optionsCheck('bus', Type.Object({ coalesce: CoalesceSchema }));

function checkOptions(options: BusOptions): void {
  checkBusOptions(options);
  if (options.coalesce !== undefined && options.coalesce !== false) {
    checkCoalesce({ coalesce: options.coalesce });
  }
}

const checkBusOptions = optionsCheck(
  'bus',
  Type.Object(
    {
      // Any Transport; its methods are its own business.
      transport: Type.Object({}),
      source: Type.Optional(Type.String()),
      inboxPrefix: Type.Optional(Type.String()),
      defaultTimeoutMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
      streamCredit: Type.Optional(Type.Integer({ minimum: 1 })),
      // `false`, or checked on its own below: a union's error would not name the bad field.
      coalesce: Type.Optional(Type.Unknown()),
      security: Type.Optional(BusSecuritySchema),
      blobs: Type.Optional(Type.Object({})),
      onError: Type.Optional(Type.Function([Type.Unknown(), Type.Unknown()], Type.Unknown())),
    },
    { additionalProperties: false },
  ),
);

/** One request waiting for its reply; also its own deadline handle (no closure per request). */
class PendingRequest implements DeadlineHandle {
  bucket: Set<DeadlineHandle> | undefined;
  private done = false;

  constructor(
    private readonly pending: Map<string, PendingRequest>,
    private readonly deadlines: DeadlineTimer,
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
    this.pending.delete(this.id);
    this.deadlines.cancel(this);
    this.signal?.removeEventListener('abort', this);
    return true;
  }
}

/** The Bus of createBus: requests, streams and subscriptions over one BusCore. */
class MessageBus implements Bus {
  readonly #core: BusCore;
  readonly #defaultTimeoutMs: number;
  readonly #pending = new Map<string, PendingRequest>();
  readonly #streams: StreamClient;
  readonly #server: StreamServer;
  readonly #subscriptions = new Set<Subscription>();
  readonly #inboxSub;
  readonly blobs: Blobs;

  constructor(options: BusOptions) {
    checkOptions(options);
    const defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000;
    const streamCredit = options.streamCredit ?? 64;
    const coalesce = resolveCoalesce(options.coalesce);
    this.#defaultTimeoutMs = defaultTimeoutMs;
    const core = new BusCore(
      options.transport,
      options.source,
      options.inboxPrefix ?? '_INBOX',
      options.security,
      options.onError ?? ((err, ctx) => console.error(`llmwire bus: ${ctx.subject ?? ''}`, err)),
    );
    this.#core = core;
    this.#streams = new StreamClient(core, streamCredit, defaultTimeoutMs);
    this.#server = new StreamServer(core, coalesce);
    this.#inboxSub = core.transport.subscribe(core.inbox, (env) => this.#onInbox(env));
    const blobStore = options.blobs;
    let own: BlobStore | undefined;
    // A transport with no store of its own reaches the blob service of another process.
    this.blobs = new Blobs(() => {
      if (blobStore !== undefined) return blobStore;
      own ??= core.transport.blobs?.() ?? remoteBlobStore(this);
      return own;
    });
  }

  get transport(): Transport {
    return this.#core.transport;
  }

  get source(): string | undefined {
    return this.#core.source;
  }

  get inbox(): string {
    return this.#core.inbox;
  }

  get ready(): Promise<void> {
    return this.#inboxSub.ready;
  }

  envelope<B>(subject: string, body: B, options?: PublishOptions): Envelope<B> {
    return this.#core.envelope(subject, body, options);
  }

  publish<B>(subject: string, body: B, options?: PublishOptions): Envelope<B> {
    const env = this.#core.envelope(subject, body, options);
    this.#core.send(env);
    return env;
  }

  send(env: Envelope): void {
    this.#core.send(env);
  }

  subscribe<B = unknown>(
    pattern: string,
    handler?: (msg: Message<B>) => unknown,
    options: SubscriptionOptions = {},
  ): Subscription<B> {
    this.#core.assertOpen();
    const sub = new Subscription<B>(this.#core, pattern, handler, options, () =>
      this.#subscriptions.delete(sub),
    );
    this.#subscriptions.add(sub);
    return sub;
  }

  request<R = unknown>(
    subject: string,
    body: unknown,
    options?: RequestOptions,
  ): Promise<Message<R>> {
    const core = this.#core;
    let env: Envelope;
    let signal: AbortSignal | undefined;
    let from: string | undefined;
    if (options === undefined) {
      env = core.envelope(subject, body);
      env.deadline = env.ts + this.#defaultTimeoutMs;
    } else {
      const { timeoutMs, signal: s, from: f, ...publishOptions } = options;
      signal = s;
      from = f;
      env = core.envelope(subject, body, publishOptions);
      env.deadline = options.deadline ?? env.ts + (timeoutMs ?? this.#defaultTimeoutMs);
    }
    env.replyTo = core.inbox;
    return new Promise<Message<R>>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(new CancelledError('request was cancelled before it was sent'));
        return;
      }
      const entry = new PendingRequest(
        this.#pending,
        core.deadlines,
        env.id,
        subject,
        resolve as (m: Message) => void,
        reject,
        signal,
        from,
      );
      this.#pending.set(env.id, entry);
      core.deadlines.addHandle(env.deadline!, entry);
      try {
        core.send(env);
      } catch (err) {
        entry.reject(err as Error);
      }
    });
  }

  stream<C = unknown, R = unknown>(
    subject: string,
    body: unknown,
    options: RequestOptions & { credit?: number } = {},
  ): ResponseStream<C, R> {
    return this.#streams.open<C, R>(subject, body, options);
  }

  serve(subject: string, handler: ServeHandler, options: ServeOptions = {}): Subscription {
    return this.subscribe(subject, (msg) => this.#server.handle(msg, handler, options), {
      queue: options.queue,
      kinds: options.kinds,
    });
  }

  queue<B = unknown>(name: string, options?: QueueOptions): BusQueue<B> {
    this.#core.assertOpen();
    return new BusQueue<B>(this.#core, this.#core.transport.queue(name, options));
  }

  reportError(error: unknown, env?: Envelope): void {
    this.#core.reportError(error, env);
  }

  #onInbox(received: Envelope): void {
    const corr = received.corr;
    if (corr === undefined) return;
    const env = this.#openInbox(received);
    if (env === undefined) return;
    if (env.kind === 'control.cancel' || env.kind === 'control.credit') {
      this.#server.onControl(env);
      return;
    }
    const pending = this.#pending.get(corr);
    if (pending !== undefined) {
      if (!fromExpected(pending.from, env)) {
        this.#core.reportUnexpected(env, pending.from);
        return;
      }
      if (env.kind === 'error') pending.reject(errorFromWire(env.body));
      else pending.resolve(this.#core.message(env));
      return;
    }
    this.#streams.onMessage(env);
  }

  /**
   * Opens a message to the inbox. Accepted unsigned: the `no_responders` errors transports make
   * themselves (no source). A reply whose signature is good but that cannot be opened here
   * (e.g. encrypted with a key this side lacks) fails its request with the typed error.
   */
  #openInbox(env: Envelope): Envelope | undefined {
    if (
      env.payload === undefined &&
      env.kind === 'error' &&
      env.source === undefined &&
      (env.body as { code?: unknown } | undefined)?.code === 'no_responders'
    ) {
      return env;
    }
    const sealer = this.#core.sealer;
    try {
      return sealer.open(env, { receiver: 'inbox' });
    } catch (err) {
      this.#core.reportError(err, env);
      if (!sealer.authenticFailure(env, err)) return undefined;
      const { payload: _p, ct: _c, zip: _z, sum: _s, enc: _e, sig: _g, ...header } = env;
      return { ...header, kind: 'error', eos: true, body: toWireError(err).toWire() };
    }
  }

  async close(): Promise<void> {
    const core = this.#core;
    if (core.isClosed) return;
    core.close();
    this.#server.abortAll(new ClosedError('bus'));
    this.#inboxSub.unsubscribe();
    for (const sub of [...this.#subscriptions]) sub.unsubscribe();
    for (const p of [...this.#pending.values()]) p.reject(new ClosedError('bus'));
    this.#streams.closeAll();
    core.deadlines.stop();
  }
}

export function createBus(options: BusOptions): Bus {
  return new MessageBus(options);
}
