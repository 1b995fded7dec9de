// A subscription on the bus: calls a handler per message, or, without one, is an async
// iterable with a bounded buffer (a reader too slow for it loses messages and is told so, the
// NATS "slow consumer" rule; durable queues are the tool when nothing may be dropped).
import { OverloadedError, type Envelope } from '../protocol/index.js';
import type { TransportSubscription } from '../transport/transport.js';
import type { BusContext } from './context.js';
import type { Message } from './message.js';

export interface SubscriptionOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string | undefined;
  /** Accept only these kinds, with bodies checked against their schemas. */
  kinds?: string[] | undefined;
  /** Most messages buffered for an iterating reader. Default 65,536. */
  maxPending?: number;
}

export class Subscription<B = unknown> implements AsyncIterable<Message<B>> {
  readonly pattern: string;
  private readonly inner: TransportSubscription;
  private readonly buffer: Message<B>[] = [];
  private wake: (() => void) | undefined;
  private done = false;
  /** Messages dropped because an iterating reader fell behind. */
  dropped = 0;

  constructor(
    private readonly bus: BusContext,
    pattern: string,
    handler: ((msg: Message<B>) => unknown) | undefined,
    options: SubscriptionOptions,
    private readonly onClose: () => void,
  ) {
    this.pattern = pattern;
    const kinds = options.kinds;
    const maxPending = options.maxPending ?? 65_536;
    const scope = { receiver: bus.nextReceiver() };
    const deliver = (received: Envelope) => {
      const env = bus.open(received, scope);
      if (env === undefined) return;
      if (kinds !== undefined) {
        try {
          bus.validate(env, kinds);
        } catch (err) {
          if (env.replyTo !== undefined) bus.message(env).respondError(err);
          else bus.reportError(err, env);
          return;
        }
      }
      const msg = bus.message(env as Envelope<B>);
      if (handler === undefined) {
        if (this.buffer.length >= maxPending) {
          this.dropped++;
          bus.reportError(
            new OverloadedError(`subscriber on '${pattern}' is too slow; message dropped`),
            env,
          );
          return;
        }
        this.buffer.push(msg);
        this.wake?.();
        return;
      }
      try {
        const result = handler(msg);
        if (result instanceof Promise) {
          result.catch((err: unknown) => this.handlerFailed(msg, err));
        }
      } catch (err) {
        this.handlerFailed(msg, err);
      }
    };
    this.inner = bus.transport.subscribe(pattern, deliver, { queue: options.queue });
  }

  private handlerFailed(msg: Message<B>, err: unknown): void {
    if (msg.envelope.replyTo !== undefined) msg.respondError(err);
    this.bus.reportError(err, msg.envelope);
  }

  get ready(): Promise<void> {
    return this.inner.ready;
  }

  unsubscribe(): void {
    if (this.done) return;
    this.done = true;
    this.inner.unsubscribe();
    this.onClose();
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Message<B>> {
    try {
      for (;;) {
        const next = this.buffer.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (this.done) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    } finally {
      this.unsubscribe();
    }
  }
}
