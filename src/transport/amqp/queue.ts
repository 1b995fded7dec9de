// One llmwire durable queue on RabbitMQ: four durable classic queues (unkeyed with priorities,
// keyed with a single active consumer, retries, dead letters), enqueue with publisher
// confirms, counts from queue.declare-ok plus this process's buffer, and the dead-letter tools.
import type { Channel } from 'amqplib';
import type { Codec } from '../../codec/codec.js';
import { HeldIds } from '../held-ids.js';
import { ClosedError, OverloadedError, type Envelope } from '../../protocol/index.js';
import { expiryOf } from '../queue-policy.js';
import type {
  DeadLetter,
  Delivery,
  DurableQueue,
  EnqueueOptions,
  EnqueueResult,
  QueueStats,
  ReceiveOptions,
  ResolvedQueueOptions,
} from '../transport.js';
import type { AdminChannel } from './admin.js';
import type { AmqpLink } from './connection.js';
import { QueueConsumer } from './consumer.js';
import { listDeadLetters, purgeDeadLetters, replayDeadLetters } from './dead-letters.js';
import { DedupWindow } from './dedup.js';
import type { DelayLadder } from './delay.js';
import { checkQueued, queuedProperties, toBuffer } from './message.js';
import type { Names, QueueNames } from './names.js';
import type { Publisher } from './publisher.js';

export interface QueueDeps {
  readonly link: AmqpLink;
  readonly admin: AdminChannel;
  readonly publisher: Publisher;
  readonly ladder: DelayLadder;
  readonly codec: Codec;
  readonly names: Names;
  readonly prefetch: number;
  readonly idleMs: number;
  readonly onError: (err: unknown) => void;
  readonly isClosed: () => boolean;
}

/** Ten llmwire priorities, 0..9, are ten AMQP priority levels. */
const MAX_PRIORITY = 9;
const DEFAULT_DEAD_LETTER_LIMIT = 100;

export class AmqpQueue implements DurableQueue {
  readonly names: QueueNames;
  /** Ids enqueued through this transport inside the dedup window. */
  private readonly enqueued: DedupWindow;
  private readonly completed: DedupWindow;
  /** Ids enqueued here and not yet seen to leave: duplicates even past the window. */
  private readonly held = new HeldIds();
  private readonly consumer: QueueConsumer;
  private declaredOn: object | undefined;
  private declaring: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly options: ResolvedQueueOptions,
    private readonly deps: QueueDeps,
  ) {
    this.names = deps.names.queue(name);
    this.enqueued = new DedupWindow(options.dedupWindowMs);
    this.completed = new DedupWindow(options.dedupWindowMs);
    this.consumer = new QueueConsumer({
      link: deps.link,
      names: this.names,
      options,
      codec: deps.codec,
      prefetch: deps.prefetch,
      idleMs: deps.idleMs,
      publisher: deps.publisher,
      ladder: deps.ladder,
      completed: this.completed,
      gone: (id) => this.held.delete(id),
      declare: () => this.declare(),
      onError: deps.onError,
    });
  }

  /** Declares the queues once per connection (a broker that lost them gets them back). */
  declare(): Promise<void> {
    const model = this.deps.link.current;
    if (model !== undefined && model === this.declaredOn) return Promise.resolve();
    this.declaring ??= this.deps.admin
      .run(async (ch) => {
        const on = this.deps.link.current;
        const { main, keyed, retry, dead } = this.names;
        const depth = this.options.maxDepth;
        // RabbitMQ counts ready messages only against x-max-length; 'reject-publish' nacks
        // the publish that would pass it, which enqueue reports as OverloadedError.
        const limit = Number.isFinite(depth)
          ? { 'x-max-length': Math.max(1, Math.floor(depth)), 'x-overflow': 'reject-publish' }
          : {};
        const toDead = { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead };
        await ch.assertQueue(dead, { durable: true });
        await ch.assertQueue(main, {
          durable: true,
          arguments: { 'x-max-priority': MAX_PRIORITY, ...toDead, ...limit },
        });
        await ch.assertQueue(keyed, {
          durable: true,
          arguments: { 'x-single-active-consumer': true, ...toDead, ...limit },
        });
        await ch.assertQueue(retry, {
          durable: true,
          arguments: { 'x-max-priority': MAX_PRIORITY, ...toDead },
        });
        await this.deps.ladder.bindDestination(ch, retry);
        this.declaredOn = on;
      })
      .finally(() => (this.declaring = undefined));
    return this.declaring;
  }

  private assertOpen(): void {
    if (this.deps.isClosed()) throw new ClosedError(`amqp queue '${this.name}'`);
  }

  async enqueue(env: Envelope, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
    this.assertOpen();
    checkQueued(env);
    if (this.enqueued.has(env.id) || this.held.has(env.id)) return { id: env.id, duplicate: true };
    this.enqueued.add(env.id);
    try {
      await this.declare();
      await this.checkDepth();
      const now = Date.now();
      const frame = toBuffer(this.deps.codec.encode(env));
      const props = queuedProperties(
        env.id,
        env.prio,
        {
          expiresAt: expiryOf(env.deadline, now, opts.ttlMs),
          notBefore: opts.delayMs === undefined ? undefined : now + opts.delayMs,
        },
        now,
      );
      const target = env.key === undefined ? this.names.main : this.names.keyed;
      await this.deps.publisher.publishDurable('', target, frame, props);
      this.held.add(env.id);
      return { id: env.id, duplicate: false };
    } catch (err) {
      this.enqueued.delete(env.id); // not stored, so a retry of the same id is not a duplicate
      throw err;
    }
  }

  /**
   * x-max-length counts ready messages only; the leased and delayed ones this process holds
   * count too, so a bounded queue looks at its stats before taking one more.
   */
  private async checkDepth(): Promise<void> {
    const depth = this.options.maxDepth;
    if (!Number.isFinite(depth)) return;
    const s = await this.stats();
    if (s.ready + s.delayed + s.leased >= depth) {
      throw new OverloadedError(`queue '${this.name}' is full (${depth} messages)`, {
        details: { queue: this.name, maxDepth: depth },
      });
    }
  }

  async stats(): Promise<QueueStats> {
    this.assertOpen();
    await this.declare();
    const { main, keyed, retry, dead } = this.names;
    const counts = await this.deps.admin.run((ch) =>
      Promise.all([main, retry, keyed, dead].map((q) => ch.checkQueue(q))),
    );
    const local = this.consumer.localStats();
    return {
      ready:
        counts[0]!.messageCount + counts[1]!.messageCount + counts[2]!.messageCount + local.ready,
      delayed: local.delayed,
      leased: local.leased,
      dead: counts[3]!.messageCount,
    };
  }

  receive(opts: ReceiveOptions): Promise<Delivery[]> {
    return this.consumer.receive(opts);
  }

  deadLetters(opts: { limit?: number } = {}): Promise<DeadLetter[]> {
    const { codec } = this.deps;
    return this.managed((ch) =>
      listDeadLetters(ch, this.names, codec, opts.limit ?? DEFAULT_DEAD_LETTER_LIMIT),
    );
  }

  replayDeadLetters(ids?: string[]): Promise<number> {
    const { codec, publisher } = this.deps;
    return this.managed((ch) =>
      replayDeadLetters(ch, this.names, codec, publisher, ids, (id) => {
        this.enqueued.delete(id);
        this.completed.delete(id);
      }),
    );
  }

  purgeDeadLetters(ids?: string[]): Promise<number> {
    return this.managed((ch) => purgeDeadLetters(ch, this.names, this.deps.codec, ids));
  }

  /** Runs `fn` on the admin channel once the queue is declared. */
  private async managed<T>(fn: (ch: Channel) => Promise<T>): Promise<T> {
    this.assertOpen();
    await this.declare();
    return this.deps.admin.run(fn);
  }

  close(): Promise<void> {
    return this.consumer.close();
  }
}
