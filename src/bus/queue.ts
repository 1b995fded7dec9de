// Durable queues on the bus: enqueue bodies, consume them with a handler (ack on success,
// retry with backoff on failure, dead letter for poison messages), or read deliveries by hand.
import { NotFoundError, toWireError, WireError, type Envelope } from '../protocol/index.js';
import type {
  DeadLetter,
  Delivery,
  DurableQueue,
  EnqueueOptions,
  EnqueueResult,
  QueueStats,
} from '../transport/transport.js';
import type { BusContext } from './context.js';
import type { PublishOptions } from './options.js';

export type QueueEnqueueOptions = PublishOptions & EnqueueOptions;

export interface Job<B = unknown> {
  readonly id: string;
  readonly body: B;
  readonly envelope: Envelope<B>;
  readonly attempt: number;
  /** Fires when the consumer stops or the message's deadline passes. */
  readonly signal: AbortSignal;
}

export interface ConsumeOptions {
  /** Jobs handled at once. Default 1. */
  concurrency?: number;
  /** Accept only these kinds (bodies checked); others are dead-lettered as rejected. */
  kinds?: string[];
  /** Stops the consumer. */
  signal?: AbortSignal;
  /** Long-poll wait per receive. Default 1000 ms. */
  waitMs?: number;
  /** Renew the lease while the handler runs, every this many ms. Default: half the lease. */
  extendEveryMs?: number;
}

/** What a consumer did with a delivery (for metrics); deliveries read by hand are not seen. */
export type QueueEvent =
  | { type: 'delivered'; attempt: number }
  | { type: 'acked' }
  | { type: 'retried' }
  | { type: 'rejected' };

export interface Consumer {
  /** Stops taking new jobs and waits for the running ones to finish. */
  stop(): Promise<void>;
  /** Resolves when the consumer has stopped. */
  readonly done: Promise<void>;
}

export class BusQueue<B = unknown> {
  readonly name: string;
  private readonly listeners = new Set<(e: QueueEvent) => void>();
  constructor(
    private readonly bus: BusContext,
    readonly durable: DurableQueue,
  ) {
    this.name = durable.name;
  }

  /** Enqueues a body; resolves once it is durable. `id` makes the enqueue idempotent. */
  enqueue(body: B, options: QueueEnqueueOptions = {}): Promise<EnqueueResult> {
    const { delayMs, ttlMs, ...publish } = options;
    const env = this.bus.envelope(this.name, body, publish);
    const opts: EnqueueOptions = {};
    if (delayMs !== undefined) opts.delayMs = delayMs;
    if (ttlMs !== undefined) opts.ttlMs = ttlMs;
    return this.durable.enqueue(this.bus.seal(env), opts);
  }

  /** Calls `listener` for what consumers of this queue do; returns a function that stops it. */
  observe(listener: (e: QueueEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: QueueEvent): void {
    for (const l of this.listeners) l(e);
  }

  /** Reads deliveries by hand; ack, nack, extend or reject each one. */
  async *deliveries(
    options: { signal?: AbortSignal; waitMs?: number; batch?: number } = {},
  ): AsyncGenerator<Delivery> {
    const waitMs = options.waitMs ?? 1000;
    while (!options.signal?.aborted && !this.bus.closing.aborted) {
      const batch = await this.durable.receive({
        max: options.batch ?? 16,
        waitMs,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      for (const d of batch) {
        const opened = await this.openDelivery(d);
        if (opened !== undefined) yield opened;
      }
    }
  }

  /**
   * The delivery with its envelope opened (docs/protocol.md, "Sealed frames"); one that cannot
   * be opened is reported and dead-lettered as rejected, and undefined is returned.
   */
  private async openDelivery(d: Delivery): Promise<Delivery | undefined> {
    let env: Envelope;
    try {
      env = this.bus.sealer.open(d.envelope, { queue: true });
    } catch (err) {
      this.bus.reportError(err, d.envelope);
      await d.reject(toWireError(err).toWire()).catch((e: unknown) => this.bus.reportError(e));
      return undefined;
    }
    if (env === d.envelope) return d;
    return {
      envelope: env,
      attempt: d.attempt,
      get leaseUntil() {
        return d.leaseUntil;
      },
      ack: () => d.ack(),
      nack: (options) => d.nack(options),
      extend: (ms) => d.extend(ms),
      reject: (error) => d.reject(error),
    };
  }

  /**
   * Runs `handler` for each message. Resolving acks it. Throwing a WireError that is not
   * retryable dead-letters it at once (reason `rejected`); any other throw retries it with
   * backoff until attempts run out.
   */
  consume(handler: (job: Job<B>) => unknown, options: ConsumeOptions = {}): Consumer {
    const concurrency = options.concurrency ?? 1;
    const stopper = new AbortController();
    const stopSignal = AbortSignal.any([
      stopper.signal,
      this.bus.closing,
      ...(options.signal ? [options.signal] : []),
    ]);
    const running = new Set<Promise<void>>();
    const loop = async () => {
      while (!stopSignal.aborted) {
        const free = concurrency - running.size;
        if (free <= 0) {
          await Promise.race(running);
          continue;
        }
        let batch: Delivery[];
        try {
          batch = await this.durable.receive({
            max: free,
            waitMs: options.waitMs ?? 1000,
            signal: stopSignal,
          });
        } catch (err) {
          if (stopSignal.aborted) break;
          this.bus.reportError(err);
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        for (const delivery of batch) {
          const task = this.run(delivery, handler, options, stopSignal).finally(() =>
            running.delete(task),
          );
          running.add(task);
        }
      }
      await Promise.allSettled(running);
    };
    const done = loop();
    return {
      done,
      stop: async () => {
        stopper.abort();
        await done;
      },
    };
  }

  private async run(
    delivery: Delivery,
    handler: (job: Job<B>) => unknown,
    options: ConsumeOptions,
    stopSignal: AbortSignal,
  ): Promise<void> {
    if (this.listeners.size > 0) this.emit({ type: 'delivered', attempt: delivery.attempt });
    let env: Envelope<B> = delivery.envelope as Envelope<B>;
    try {
      // No replay check: a redelivery carries the same id by design, and the queue dedups ids.
      try {
        env = this.bus.sealer.open(env, { queue: true }) as Envelope<B>;
      } catch (err) {
        this.bus.reportError(err, env);
        throw err;
      }
      this.bus.validate(env, options.kinds);
    } catch (err) {
      this.emit({ type: 'rejected' });
      await delivery
        .reject(toWireError(err).toWire())
        .catch((e: unknown) => this.bus.reportError(e, env));
      return;
    }
    const jobAbort = new AbortController();
    const signal = AbortSignal.any([stopSignal, jobAbort.signal]);
    const leaseMs = delivery.leaseUntil - Date.now();
    const every = options.extendEveryMs ?? Math.max(10, Math.floor(leaseMs / 2));
    const renew = setInterval(() => {
      delivery
        .extend(Math.max(leaseMs, 1))
        .catch(() =>
          jobAbort.abort(
            new NotFoundError('the lease on this job was lost; another consumer may have it'),
          ),
        );
    }, every);
    renew.unref();
    const deadlineTimer =
      env.deadline === undefined
        ? undefined
        : this.bus.deadlines.add(env.deadline, () => jobAbort.abort());
    try {
      await handler({
        id: env.id,
        body: env.body as B,
        envelope: env,
        attempt: delivery.attempt,
        signal,
      });
      await delivery.ack();
      this.emit({ type: 'acked' });
    } catch (err) {
      const wire = toWireError(err);
      if (err instanceof WireError && !err.retryable) {
        this.emit({ type: 'rejected' });
        await delivery.reject(wire.toWire());
      } else {
        this.emit({ type: 'retried' });
        await delivery.nack({ error: wire.toWire() });
      }
    } finally {
      clearInterval(renew);
      if (deadlineTimer) this.bus.deadlines.cancel(deadlineTimer);
    }
  }

  stats(): Promise<QueueStats> {
    return this.durable.stats();
  }
  deadLetters(options?: { limit?: number }): Promise<DeadLetter[]> {
    return this.durable.deadLetters(options);
  }
  replayDeadLetters(ids?: string[]): Promise<number> {
    return this.durable.replayDeadLetters(ids);
  }
  purgeDeadLetters(ids?: string[]): Promise<number> {
    return this.durable.purgeDeadLetters(ids);
  }
}
