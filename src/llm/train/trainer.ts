// A trainer's side of a feed: it claims shards (a leased token per shard, renewed while held, so
// each shard has one trainer at a time and passes to another when its trainer dies), reads each
// held shard one batch at a time in order, skips what the shard's checkpoint covers, fetches and
// verifies batches sent by blob reference, and hands the batches out through `for await`, with
// at most `prefetch` batches read ahead of the loop.
import { Type } from '@sinclair/typebox';
import {
  createId,
  InvalidMessageError,
  ClosedError,
  optionsCheck,
  toWireError,
  validateBody,
  WireError,
  type Envelope,
  type TrainingBatch,
  type TrainingBatchRef,
  type TrainingExample,
} from '../../protocol/index.js';
import type { Delivery } from '../../transport/transport.js';
import { covers, type FeedCheckpoint } from './checkpoint.js';
import type { FeedContext } from './context.js';
import { feedTokenId } from './names.js';
import { fetchExamples, Refused } from './batch-ref.js';
import { openBatch, type FeedBatch, type OpenBatch } from './batch.js';
import { Slots } from './slots.js';

export interface FeedTrainerOptions {
  /** Written into the checkpoints this trainer commits. Default: the bus's source, or an id. */
  id?: string;
  /** Shards held at once. Default: all of them. */
  maxShards?: number;
  /** Batches read ahead of the loop (across the shards held). Default 2. */
  prefetch?: number;
  /** Long-poll wait of each receive, in ms. Default 500. */
  waitMs?: number;
  /** Stops the trainer, as `stop()` does. */
  signal?: AbortSignal;
}

const checkOptions = optionsCheck(
  'feed trainer options',
  Type.Object(
    {
      id: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
      maxShards: Type.Optional(Type.Integer({ minimum: 1 })),
      prefetch: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024 })),
      waitMs: Type.Optional(Type.Integer({ minimum: 1 })),
      signal: Type.Optional(Type.Object({})),
    },
    { additionalProperties: false },
  ),
);

export type { FeedBatch } from './batch.js';

export class FeedTrainer implements AsyncIterable<FeedBatch> {
  readonly id: string;
  /** Resolves once the trainer has stopped and released its shards. */
  readonly done: Promise<void>;
  readonly #ctx: FeedContext;
  readonly #stopper = new AbortController();
  readonly #signal: AbortSignal;
  readonly #maxShards: number;
  readonly #waitMs: number;
  readonly #slots: Slots;
  readonly #held = new Map<number, Promise<void>>();
  readonly #ready: FeedBatch[] = [];
  readonly #open = new Set<OpenBatch>();
  #wake: (() => void) | undefined;
  /** Why the trainer stopped on its own (its shards could not be claimed), if it did. */
  #failure: Error | undefined;

  constructor(ctx: FeedContext, options: FeedTrainerOptions) {
    checkOptions(options);
    this.#ctx = ctx;
    this.id = options.id ?? ctx.bus.source ?? `trainer-${createId()}`;
    this.#maxShards = Math.min(options.maxShards ?? ctx.shards, ctx.shards);
    this.#waitMs = options.waitMs ?? 500;
    this.#slots = new Slots(options.prefetch ?? 2);
    this.#signal = AbortSignal.any([
      this.#stopper.signal,
      ...(options.signal === undefined ? [] : [options.signal]),
    ]);
    // The checkpoint store is needed from the first batch: a feed without one fails here.
    ctx.records();
    this.done = this.#run()
      .catch((err: unknown) => {
        this.#failure = err instanceof Error ? err : toWireError(err);
        this.#stopper.abort();
      })
      .finally(() => this.#notify());
  }

  /** The shards this trainer holds now. */
  get shards(): number[] {
    return [...this.#held.keys()].sort((a, b) => a - b);
  }

  /** Stops claiming and reading; batches read but not handed out go back to the feed. */
  async stop(): Promise<void> {
    this.#stopper.abort();
    this.#notify();
    await this.done;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<FeedBatch> {
    try {
      for (;;) {
        const batch = this.#ready.shift();
        if (batch !== undefined) {
          this.#slots.release();
          yield batch;
          continue;
        }
        if (this.#failure !== undefined) throw this.#failure;
        if (this.#signal.aborted) return;
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
    } finally {
      await this.stop();
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #run(): Promise<void> {
    const tokens = this.#ctx.tokenQueue();
    try {
      await this.#seedTokens();
      while (!this.#signal.aborted) {
        const free = this.#maxShards - this.#held.size;
        if (free <= 0) {
          await Promise.race([...this.#held.values(), aborted(this.#signal)]);
          continue;
        }
        let claimed: Delivery[];
        try {
          claimed = await tokens.durable.receive({
            max: free,
            waitMs: this.#waitMs,
            signal: this.#signal,
          });
        } catch (err) {
          // A closed bus or transport ends the trainer as stop() does.
          if (this.#signal.aborted || err instanceof ClosedError) break;
          // Refused for good (`forbidden`): trying again cannot help.
          if (err instanceof WireError && !err.retryable) throw err;
          this.#ctx.reportError(err);
          await sleep(100, this.#signal);
          continue;
        }
        for (const token of claimed) this.#claim(token);
      }
    } finally {
      await Promise.allSettled(this.#held.values());
      // Batches read but not committed go back to the feed, to be read again from the checkpoint.
      this.#ready.length = 0;
      for (const open of [...this.#open]) await open.giveBack().catch(() => undefined);
    }
  }

  /** Puts one token per shard in the token queue, unless the tokens are there already. */
  async #seedTokens(): Promise<void> {
    const tokens = this.#ctx.tokenQueue();
    const s = await tokens.stats();
    if (s.ready + s.leased + s.delayed >= this.#ctx.shards) return;
    for (let shard = 0; shard < this.#ctx.shards; shard++) {
      // The token's id makes a second seeding (another trainer starting) a duplicate.
      await tokens.enqueue(
        { type: 'feed.shard', data: { feed: this.#ctx.name, shard } },
        { kind: 'event', id: feedTokenId(this.#ctx.name, shard) },
      );
    }
  }

  #claim(token: Delivery): void {
    const shard = this.#shardOfToken(token.envelope);
    if (shard === undefined || this.#held.has(shard)) {
      // Not a token of this feed's shards (a feed reopened with fewer shards): leave it be.
      void token.nack({ delayMs: this.#ctx.leaseMs }).catch(() => undefined);
      return;
    }
    const lost = new AbortController();
    const leaseMs = this.#ctx.leaseMs;
    const renew = setInterval(
      () => {
        token.extend(leaseMs).catch((err: unknown) => {
          this.#ctx.reportError(err);
          lost.abort();
        });
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    renew.unref();
    const signal = AbortSignal.any([this.#signal, lost.signal]);
    const loop = this.#readShard(shard, signal).finally(async () => {
      clearInterval(renew);
      this.#held.delete(shard);
      // Handing the shard back at once lets another trainer take it without waiting the lease.
      if (!lost.signal.aborted) await token.nack({ delayMs: 0 }).catch(() => undefined);
    });
    this.#held.set(shard, loop);
  }

  #shardOfToken(env: Envelope): number | undefined {
    for (let shard = 0; shard < this.#ctx.shards; shard++) {
      if (env.id === feedTokenId(this.#ctx.name, shard)) return shard;
    }
    return undefined;
  }

  /** Reads shard `shard` one batch at a time until `signal` fires. */
  async #readShard(shard: number, signal: AbortSignal): Promise<void> {
    const queue = this.#ctx.shardQueue(shard);
    for await (const delivery of queue.deliveries({ signal, waitMs: this.#waitMs, batch: 1 })) {
      try {
        await this.#handle(shard, delivery, signal);
      } catch (err) {
        this.#ctx.reportError(err, delivery.envelope);
        await sleep(100, signal);
      }
    }
  }

  /** One delivery: skipped, refused, retried, or handed out and then waited for. */
  async #handle(shard: number, delivery: Delivery, signal: AbortSignal): Promise<void> {
    const env = delivery.envelope;
    const leaseMs = this.#ctx.leaseMs;
    const renew = setInterval(
      () => void delivery.extend(leaseMs).catch(() => undefined),
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    renew.unref();
    let open: OpenBatch | undefined;
    try {
      let body: TrainingBatch;
      let checkpoint: FeedCheckpoint | undefined;
      try {
        if (env.kind !== 'training.batch') {
          throw new Refused(
            new InvalidMessageError(`a feed carries training.batch, not ${env.kind}`),
          );
        }
        try {
          validateBody(env);
        } catch (err) {
          throw new Refused(toWireError(err));
        }
        body = env.body as TrainingBatch;
      } catch (err) {
        await this.#settleFailed(delivery, err);
        return;
      }
      try {
        checkpoint = await this.#ctx.readCheckpoint(shard);
      } catch (err) {
        // The batch is fine; its shard's checkpoint is not readable (the store is down, or the
        // record was damaged): the batch waits, it is not the batch's fault.
        this.#ctx.reportError(err, env);
        await delivery.nack({ error: toWireError(err).toWire() });
        return;
      }
      if (covers(checkpoint, body.run, body.step)) {
        // Processed before the last checkpoint; its removal did not happen before a crash.
        await delivery.ack();
        if (body.ref !== undefined) this.#dropBlob(body.ref);
        return;
      }
      if (!(await this.#slots.acquire(signal))) {
        await delivery.nack({ delayMs: 0 }).catch(() => undefined);
        return;
      }
      let examples: readonly TrainingExample[];
      try {
        examples =
          body.ref === undefined ? body.examples : await fetchExamples(this.#ctx, body.ref);
      } catch (err) {
        this.#slots.release();
        await this.#settleFailed(delivery, err);
        return;
      }
      open = openBatch(
        this.#ctx,
        this.id,
        { shard, delivery, body, examples, checkpoint },
        {
          stopRenew: () => clearInterval(renew),
          settled: (o) => this.#open.delete(o),
          dropBlob: (ref) => this.#dropBlob(ref),
        },
      );
      this.#open.add(open);
      this.#ready.push(open.batch);
      this.#notify();
      await Promise.race([open.done, aborted(signal)]);
    } finally {
      if (open === undefined) clearInterval(renew);
    }
  }

  async #settleFailed(delivery: Delivery, err: unknown): Promise<void> {
    const refused = err instanceof Refused ? err.error : undefined;
    const error = refused ?? err;
    this.#ctx.reportError(error, delivery.envelope);
    const wire = toWireError(error);
    if (refused !== undefined || (error instanceof WireError && !error.retryable)) {
      await delivery.reject(wire.toWire());
    } else {
      await delivery.nack({ error: wire.toWire() });
    }
  }

  #dropBlob(ref: TrainingBatchRef): void {
    this.#ctx.bus.blobs
      .delete(ref.blob, { version: ref.version })
      .catch((err: unknown) => this.#ctx.reportError(err));
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
