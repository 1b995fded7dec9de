// Every publish of the amqp transport goes through one confirm channel. Two lanes: messages
// (fire-and-forget, held in a bounded buffer while disconnected and dropped if their channel
// dies, like NATS core) and durable writes (resolved by the broker's confirm, sent again on the
// next channel if the confirm never came, and held back while too many await confirms, which is
// what bounds a fast producer's memory).
import type { ConfirmChannel, Message, Options } from 'amqplib';
import { ClosedError, OverloadedError, UnavailableError } from '../../protocol/index.js';
import { ManagedChannel, type AmqpLink } from './connection.js';

interface Outgoing {
  readonly exchange: string;
  readonly key: string;
  readonly content: Buffer;
  readonly options: Options.Publish | undefined;
  readonly durable: boolean;
  readonly resolve?: () => void;
  readonly reject?: (err: Error) => void;
}

export interface PublisherOptions {
  /** Bytes of messages held unsent (disconnected, or the socket backed up). */
  maxBufferedBytes: number;
  /** Durable writes awaiting their confirm before the next one waits. */
  windowMessages: number;
  windowBytes: number;
  /** Declarations the channel needs before anything is published on it. */
  setup: (ch: ConfirmChannel) => Promise<void>;
  /** A mandatory message no queue took (basic.return). */
  onReturn: (msg: Message) => void;
}

export class Publisher {
  private readonly managed: ManagedChannel<ConfirmChannel>;
  private ch: ConfirmChannel | undefined;
  private nextTag = 1;
  private lowestTag = 1;
  private readonly inflight = new Map<number, Outgoing>();
  private inflightDurable = 0;
  private inflightDurableBytes = 0;
  private fast: Outgoing[] = [];
  private fastBytes = 0;
  private durable: Outgoing[] = [];
  private writable = true;
  private flushWaiters: { pending: Set<Outgoing>; resolve: () => void }[] = [];
  private closed = false;

  constructor(
    link: AmqpLink,
    private readonly options: PublisherOptions,
  ) {
    this.managed = new ManagedChannel<ConfirmChannel>(link, {
      confirm: true,
      setup: async (ch) => {
        await options.setup(ch);
        ch.on('ack', (f: { deliveryTag: number; multiple: boolean }) => this.confirmed(ch, f));
        ch.on('nack', (f: { deliveryTag: number; multiple: boolean }) =>
          this.confirmed(ch, f, true),
        );
        ch.on('return', (msg: Message) => options.onReturn(msg));
        ch.on('drain', () => {
          if (this.ch !== ch) return;
          this.writable = true;
          this.pump();
        });
        this.ch = ch;
        this.nextTag = this.lowestTag = 1;
        this.writable = true;
        queueMicrotask(() => this.pump());
      },
      onLost: (ch) => this.lost(ch),
    });
    this.managed.start();
    link.onShutdown((err) => this.fail(err));
  }

  /** Fire-and-forget. Throws when the buffer for unsent messages is full. */
  publish(exchange: string, key: string, content: Buffer, options?: Options.Publish): void {
    if (this.closed) throw new ClosedError('amqp transport');
    const o: Outgoing = { exchange, key, content, options, durable: false };
    if (this.ch !== undefined && this.writable && this.fast.length === 0) {
      this.send(this.ch, o);
      return;
    }
    if (this.fastBytes + content.length > this.options.maxBufferedBytes) {
      throw this.ch === undefined
        ? new UnavailableError('not connected to the broker, and the publish buffer is full')
        : new OverloadedError('the connection to the broker is backed up; publish later');
    }
    this.fast.push(o);
    this.fastBytes += content.length;
  }

  /** Resolves once the broker confirms the message (it is then on disk for a durable queue). */
  publishDurable(
    exchange: string,
    key: string,
    content: Buffer,
    options?: Options.Publish,
  ): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('amqp transport'));
    return new Promise<void>((resolve, reject) => {
      this.durable.push({ exchange, key, content, options, durable: true, resolve, reject });
      this.pump();
    });
  }

  /** Resolves when everything published before the call is confirmed or given up. */
  flush(): Promise<void> {
    const pending = new Set<Outgoing>([...this.fast, ...this.durable, ...this.inflight.values()]);
    if (pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push({ pending, resolve }));
  }

  private send(ch: ConfirmChannel, o: Outgoing): void {
    const tag = this.nextTag++;
    this.inflight.set(tag, o);
    if (o.durable) {
      this.inflightDurable++;
      this.inflightDurableBytes += o.content.length;
    }
    try {
      if (!ch.publish(o.exchange, o.key, o.content, o.options)) this.writable = false;
    } catch {
      // The channel closed under us; `lost` (which runs next) sends durable writes again.
      this.writable = false;
    }
  }

  private pump(): void {
    const ch = this.ch;
    if (ch === undefined) return;
    while (this.fast.length > 0 && this.writable) {
      const o = this.fast.shift()!;
      this.fastBytes -= o.content.length;
      this.send(ch, o);
    }
    while (
      this.durable.length > 0 &&
      this.writable &&
      this.inflightDurable < this.options.windowMessages &&
      this.inflightDurableBytes < this.options.windowBytes
    ) {
      this.send(ch, this.durable.shift()!);
    }
  }

  private confirmed(
    ch: ConfirmChannel,
    f: { deliveryTag: number; multiple: boolean },
    refused = false,
  ): void {
    if (this.ch !== ch) return;
    const from = f.multiple ? this.lowestTag : f.deliveryTag;
    for (let tag = from; tag <= f.deliveryTag; tag++) {
      const o = this.inflight.get(tag);
      if (o === undefined) continue;
      this.inflight.delete(tag);
      this.settle(o, refused);
    }
    while (this.lowestTag < this.nextTag && !this.inflight.has(this.lowestTag)) this.lowestTag++;
    this.pump();
  }

  private settle(o: Outgoing, refused: boolean): void {
    if (o.durable) {
      this.inflightDurable--;
      this.inflightDurableBytes -= o.content.length;
      // The broker refuses a message (basic.nack) when a queue with overflow 'reject-publish'
      // is at its x-max-length: that is the queue's maxDepth.
      if (refused) o.reject?.(new OverloadedError('the queue is full; the broker refused it'));
      else o.resolve?.();
    }
    this.done(o);
  }

  private done(o: Outgoing): void {
    if (this.flushWaiters.length === 0) return;
    this.flushWaiters = this.flushWaiters.filter((w) => {
      w.pending.delete(o);
      if (w.pending.size > 0) return true;
      w.resolve();
      return false;
    });
  }

  /** The channel went away: unconfirmed durable writes go out again, in order, on the next. */
  private lost(ch: ConfirmChannel): void {
    if (this.ch !== ch) return;
    this.ch = undefined;
    const again: Outgoing[] = [];
    for (const o of this.inflight.values()) {
      if (o.durable) again.push(o);
      else this.done(o);
    }
    this.inflight.clear();
    this.inflightDurable = 0;
    this.inflightDurableBytes = 0;
    this.durable = [...again, ...this.durable];
  }

  /** Resolves when everything published so far is confirmed, or after `ms`. */
  async confirmedWithin(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.flush(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
    ]);
    clearTimeout(timer);
  }

  /** Fails everything not yet confirmed: the transport closed, or gave up reconnecting. */
  private fail(err: Error): void {
    this.closed = true;
    for (const o of [...this.durable, ...this.inflight.values()]) o.reject?.(err);
    for (const o of [...this.fast, ...this.durable, ...this.inflight.values()]) this.done(o);
    this.fast = [];
    this.durable = [];
    this.inflight.clear();
  }

  /** Waits (up to `graceMs`) for unconfirmed writes, then fails what is left. */
  async close(graceMs: number): Promise<void> {
    if (this.closed) return;
    await this.confirmedWithin(graceMs);
    this.closed = true;
    await this.managed.stop();
    this.fail(new ClosedError('amqp transport'));
  }
}
