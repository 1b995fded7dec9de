// The consuming side of one durable queue in one process. Three AMQP consumers (unkeyed,
// retries, keyed) feed a local buffer bounded by the prefetch; receive() leases from it,
// highest priority first. RabbitMQ has no leases, so they live here: a lease that runs out
// counts as a failed attempt. An unkeyed retry is republished (through the delay ladder) with
// its attempts in a header and then acked; a keyed message stays unacked in this process for
// its retries and delays, so if the process dies the broker puts it back ahead of the rest of
// its key, and the keyed queue's single active consumer keeps every key in one process.
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Codec } from '../../codec/codec.js';
import {
  ClosedError,
  NotFoundError,
  type Envelope,
  type WireErrorBody,
} from '../../protocol/index.js';
import { LEASE_EXPIRED, lastError } from '../queue-contract.js';
import { backoffDelay } from '../queue-policy.js';
import type {
  DeadLetterReason,
  Delivery,
  NackOptions,
  QueueStats,
  ReceiveOptions,
  ResolvedQueueOptions,
} from '../transport.js';
import { DeliveryBuffer, LEVELS, type Item } from './buffer.js';
import { ManagedChannel, type AmqpLink } from './connection.js';
import type { DelayLadder } from './delay.js';
import type { DedupWindow } from './dedup.js';
import {
  attemptsOf,
  DEFAULT_PRIORITY,
  deadProperties,
  expiresAtOf,
  lastErrorOf,
  notBeforeOf,
  queuedProperties,
} from './message.js';
import type { QueueNames } from './names.js';
import type { Publisher } from './publisher.js';

export interface ConsumerContext {
  readonly link: AmqpLink;
  readonly names: QueueNames;
  readonly options: ResolvedQueueOptions;
  readonly codec: Codec;
  readonly prefetch: number;
  /** Give the buffer back to the broker after this long without a receive. */
  readonly idleMs: number;
  readonly publisher: Publisher;
  readonly ladder: DelayLadder;
  /** Ids acked within the dedup window: a second copy is dropped on arrival. */
  readonly completed: DedupWindow;
  /** A message left the queue here (acked or dead-lettered). */
  readonly gone: (id: string) => void;
  readonly declare: () => Promise<void>;
  readonly onError: (err: unknown) => void;
}

export class QueueConsumer {
  private readonly managed: ManagedChannel<Channel>;
  private ch: Channel | undefined;
  private gen = 0;
  private readonly buffer = new DeliveryBuffer((item) => this.settle(this.kill(item, 'expired')));
  private waiters = new Set<() => void>();
  /** When messages this process sent down the delay ladder come back. */
  private ladderDue: number[] = [];
  private leaseSeq = 0;
  private receiving = 0;
  private lastUse = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;

  constructor(private readonly ctx: ConsumerContext) {
    this.managed = new ManagedChannel<Channel>(ctx.link, {
      confirm: false,
      setup: (ch) => this.setup(ch),
    });
  }

  private async setup(ch: Channel): Promise<void> {
    await this.ctx.declare();
    const gen = ++this.gen;
    this.ch = ch;
    ch.once('close', () => this.lost(ch));
    // Per consumer: each of the three takes at most `prefetch` unacked messages.
    await ch.prefetch(this.ctx.prefetch, false);
    const { main, retry, keyed } = this.ctx.names;
    for (const [queue, keyedQueue] of [
      [main, false],
      [retry, false],
      [keyed, true],
    ] as const) {
      await ch.consume(queue, (msg) => this.arrive(ch, gen, msg, keyedQueue), { noAck: false });
    }
  }

  private start(): void {
    this.lastUse = Date.now();
    if (this.running) return;
    this.running = true;
    this.managed.start();
    this.idleTimer = setInterval(() => void this.idleCheck(), Math.max(50, this.ctx.idleMs / 2));
    this.idleTimer.unref();
  }

  async receive(opts: ReceiveOptions): Promise<Delivery[]> {
    if (this.closed) throw new ClosedError(`amqp queue '${this.ctx.names.main}'`);
    const failed = this.ctx.link.failed;
    if (failed !== undefined) throw failed;
    this.start();
    this.receiving++;
    try {
      const until = Date.now() + Math.max(0, opts.waitMs);
      for (;;) {
        const out = this.take(opts.max);
        const left = until - Date.now();
        if (out.length > 0 || this.closed || left <= 0 || opts.signal?.aborted) return out;
        await this.wait(left, opts.signal);
        // The broker sends a burst in one go: let the rest of it land so one call can take it.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.receiving--;
      this.lastUse = Date.now();
    }
  }

  private wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', wake);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      signal?.addEventListener('abort', wake, { once: true });
      this.waiters.add(wake);
    });
  }

  private wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private arrive(ch: Channel, gen: number, msg: ConsumeMessage | null, keyed: boolean): void {
    if (msg === null) {
      // The broker cancelled the consumer (its queue was deleted): a new channel declares again.
      void ch.close().catch(() => undefined);
      return;
    }
    let env: Envelope;
    try {
      env = this.ctx.codec.decode(msg.content);
    } catch (err) {
      this.ctx.onError(err);
      // Nothing can handle a frame that does not decode: keep it, as a dead letter.
      const error: WireErrorBody = {
        code: 'invalid_message',
        message: 'frame does not decode',
        retryable: false,
      };
      const props = deadProperties(msg, 'rejected', attemptsOf(msg), error, Date.now());
      this.ctx.publisher
        .publishDurable('', this.ctx.names.dead, msg.content, props)
        .then(() => this.ackRaw(ch, msg), this.ctx.onError);
      return;
    }
    if (this.ctx.completed.has(env.id)) {
      this.ackRaw(ch, msg); // a copy of one already done inside the dedup window
      return;
    }
    const prio = msg.properties.priority as number | undefined;
    const item: Item = {
      msg,
      gen,
      env,
      prio: Number.isInteger(prio) && prio! >= 0 && prio! < LEVELS ? prio! : DEFAULT_PRIORITY,
      key: keyed ? env.key : undefined,
      expiresAt: expiresAtOf(msg),
      availableAt: notBeforeOf(msg),
      attempts: attemptsOf(msg),
      state: 'blocked',
      lease: 0,
      leaseUntil: 0,
      timer: undefined,
      lastError: lastErrorOf(msg),
    };
    if (this.buffer.add(item)) this.release(item, Date.now());
  }

  /** Makes an item that may go next ready now, or when it becomes available. */
  private release(item: Item, now: number): void {
    if (item.expiresAt <= now) {
      this.settle(this.kill(item, 'expired'));
      return;
    }
    if (item.availableAt > now) {
      if (item.key === undefined) {
        this.settle(this.move(item, item.availableAt - now));
        return;
      }
      item.state = 'delayed';
      item.timer = setTimeout(() => {
        item.timer = undefined;
        if (item.state === 'delayed') this.release(item, Date.now());
      }, item.availableAt - now);
      return;
    }
    this.buffer.markReady(item);
    this.wakeAll();
  }

  private take(max: number): Delivery[] {
    const now = Date.now();
    const expired = (item: Item) => this.settle(this.kill(item, 'expired'));
    return this.buffer.take(max, now, expired).map((item) => this.lease(item, now));
  }

  private lease(item: Item, now: number): Delivery {
    const leaseMs = this.ctx.options.leaseMs;
    item.state = 'leased';
    item.attempts++;
    const token = ++this.leaseSeq;
    item.lease = token;
    item.leaseUntil = now + leaseMs;
    this.armLease(item, token, leaseMs);
    const envelope: Envelope = { ...item.env, attempt: item.attempts };
    const owns = () =>
      item.state === 'leased' && item.lease === token && item.gen === this.gen && !this.closed;
    return {
      envelope,
      attempt: item.attempts,
      get leaseUntil() {
        return item.leaseUntil;
      },
      ack: () => {
        if (owns()) this.ackItem(item);
        return Promise.resolve();
      },
      nack: (o: NackOptions = {}) => {
        return owns() ? this.fail(item, o.error, o.delayMs) : Promise.resolve();
      },
      extend: (ms: number) => {
        if (!owns()) return Promise.reject(new NotFoundError(`lease on ${item.env.id} was lost`));
        item.leaseUntil = Date.now() + ms;
        this.armLease(item, token, ms);
        return Promise.resolve();
      },
      reject: (error: WireErrorBody) => {
        if (!owns()) return Promise.resolve();
        item.lastError = error;
        return this.kill(item, 'rejected');
      },
    };
  }

  private armLease(item: Item, token: number, ms: number): void {
    clearTimeout(item.timer);
    item.timer = setTimeout(() => {
      item.timer = undefined;
      if (item.state === 'leased' && item.lease === token)
        this.settle(this.fail(item, LEASE_EXPIRED));
    }, ms);
    item.timer.unref();
  }

  private ackItem(item: Item): void {
    this.ctx.completed.add(item.env.id);
    this.ctx.gone(item.env.id);
    this.finish(item);
  }

  /** A failed delivery: retry after the backoff (or `delayMs`), or dead-letter it. */
  private fail(item: Item, error?: WireErrorBody, delayMs?: number): Promise<void> {
    clearTimeout(item.timer);
    item.timer = undefined;
    item.lastError = lastError(item.lastError, error);
    if (item.attempts >= this.ctx.options.maxAttempts) return this.kill(item, 'max_attempts');
    const delay = delayMs ?? backoffDelay(item.attempts, this.ctx.options.backoff);
    if (item.key === undefined) return this.move(item, delay);
    const now = Date.now();
    item.state = 'blocked';
    item.availableAt = now + delay;
    this.release(item, now); // still the head of its key, so nothing of the key overtakes it
    return Promise.resolve();
  }

  /** Sends an unkeyed message back to the retry queue, through the ladder when delayed. */
  private async move(item: Item, delayMs: number): Promise<void> {
    item.state = 'moving';
    const { names, publisher, ladder } = this.ctx;
    const now = Date.now();
    const props = queuedProperties(
      item.env.id,
      item.prio,
      { attempts: item.attempts, expiresAt: item.expiresAt, lastError: item.lastError },
      now,
    );
    if (delayMs < 1) {
      await publisher.publishDurable('', names.retry, item.msg.content, props);
    } else {
      // No per-message expiry on the way through the ladder: it would cut the delay short.
      delete props.expiration;
      const { exchange, key } = await ladder.route(delayMs, names.retry);
      await publisher.publishDurable(exchange, key, item.msg.content, props);
      this.ladderDue.push(now + delayMs);
    }
    this.finish(item);
  }

  private async kill(item: Item, reason: DeadLetterReason): Promise<void> {
    clearTimeout(item.timer);
    item.timer = undefined;
    item.state = 'moving';
    const props = deadProperties(item.msg, reason, item.attempts, item.lastError, Date.now());
    await this.ctx.publisher.publishDurable('', this.ctx.names.dead, item.msg.content, props);
    this.ctx.gone(item.env.id);
    this.finish(item);
  }

  /** Acks the broker's copy (once anything that replaces it is confirmed) and lets the key go. */
  private finish(item: Item): void {
    clearTimeout(item.timer);
    item.timer = undefined;
    item.state = 'done';
    if (item.gen === this.gen && this.ch !== undefined) this.ackRaw(this.ch, item.msg);
    const next = this.buffer.remove(item);
    if (next !== undefined) this.release(next, Date.now());
  }

  private ackRaw(ch: Channel, msg: ConsumeMessage): void {
    try {
      ch.ack(msg);
    } catch {
      // The channel is gone; the broker has put the message back and delivers it again.
    }
  }

  private settle(p: Promise<void>): void {
    p.catch((err: unknown) => {
      if (!this.closed) this.ctx.onError(err);
    });
  }

  /** The channel closed: the broker requeued everything it had given it. */
  private lost(ch: Channel): void {
    if (this.ch !== ch) return;
    this.ch = undefined;
    this.gen++; // every delivery of the old channel is stale now
    this.buffer.clear();
  }

  /** Counts of this process's buffer; the broker's queue counts are added by the caller. */
  localStats(): QueueStats {
    const now = Date.now();
    this.ladderDue = this.ladderDue.filter((at) => at > now);
    const c = this.buffer.counts();
    return {
      ready: c.ready,
      delayed: c.waiting + this.ladderDue.length,
      leased: c.leased,
      dead: 0,
    };
  }

  private async idleCheck(): Promise<void> {
    if (!this.running || this.receiving > 0 || Date.now() - this.lastUse < this.ctx.idleMs) return;
    if (!this.buffer.idle) return;
    // Nobody is receiving: give the buffered messages back so other consumers can take them.
    this.running = false;
    clearInterval(this.idleTimer);
    await this.managed.stop();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.running = false;
    clearInterval(this.idleTimer);
    this.wakeAll();
    await this.managed.stop();
    this.buffer.close();
  }
}
