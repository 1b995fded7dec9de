// Training feeds (docs/dataplane.md, "Training feeds"): producers publish `training.batch`
// messages; trainers consume them sharded by key, in order within a shard, one trainer per
// shard at a time, and commit a checkpoint per shard so that a restarted trainer resumes exactly
// where it stopped. Built on the bus's durable queues, its record stores and `bus.blobs`.
import { Type } from '@sinclair/typebox';
import type { Bus } from '../../bus/api.js';
import {
  ConfigError,
  createId,
  OverloadedError,
  optionsCheck,
  PayloadTooLargeError,
  type TrainingBatch,
  type TrainingBatchRef,
  type TrainingExample,
} from '../../protocol/index.js';
import type { QueueStats } from '../../transport/transport.js';
import type { FeedCheckpoint } from './checkpoint.js';
import { FeedContext, type FeedOptions } from './context.js';
import { checkFeedName, feedBlobName, feedShardKey, MAX_FEED_SHARDS, shardOfKey } from './names.js';
import { FeedTrainer, type FeedTrainerOptions } from './trainer.js';

export interface FeedPublishOptions {
  /** What the batch is sharded by. Default: its `run`. */
  key?: string;
  /** The message id: a second publish of the same id inside the dedup window is a no-op. */
  id?: string;
  /** How long to wait for room in a full shard, in ms. Default 60 s; then `overloaded`. */
  waitMs?: number;
  signal?: AbortSignal;
}

export interface FeedPublished {
  readonly id: string;
  readonly shard: number;
  /** True when the id was already in the feed: nothing new was stored. */
  readonly duplicate: boolean;
  /** Set when the examples went by blob reference. */
  readonly ref?: TrainingBatchRef;
}

/** A batch to publish: inline examples (the feed moves large ones to a blob itself). */
export interface FeedBatchInput {
  run: string;
  step: number;
  epoch?: number;
  examples: TrainingExample[];
}

const checkOptions = optionsCheck(
  'feed options',
  Type.Object(
    {
      name: Type.String(),
      shards: Type.Integer({ minimum: 1, maximum: MAX_FEED_SHARDS }),
      leaseMs: Type.Optional(Type.Integer({ minimum: 100 })),
      maxAttempts: Type.Optional(Type.Integer({ minimum: 1 })),
      maxDepth: Type.Optional(Type.Integer({ minimum: 1 })),
      inlineMaxBytes: Type.Optional(Type.Integer({ minimum: 1024 })),
      maxBatchBytes: Type.Optional(Type.Integer({ minimum: 1024 })),
      records: Type.Optional(Type.Object({})),
      onError: Type.Optional(Type.Function([Type.Unknown()], Type.Unknown())),
    },
    { additionalProperties: false },
  ),
);

const checkPublish = optionsCheck(
  'feed publish options',
  Type.Object(
    {
      key: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
      id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
      waitMs: Type.Optional(Type.Number({ minimum: 0 })),
      signal: Type.Optional(Type.Object({})),
    },
    { additionalProperties: false },
  ),
);

export class Feed {
  readonly name: string;
  readonly shards: number;
  readonly #ctx: FeedContext;
  readonly #inlineMaxBytes: number;

  constructor(bus: Bus, options: FeedOptions) {
    checkOptions(options);
    this.name = checkFeedName(options.name);
    this.shards = options.shards;
    this.#inlineMaxBytes = options.inlineMaxBytes ?? 256 * 1024;
    this.#ctx = new FeedContext(bus, this.name, this.shards, options);
  }

  /** The shard a key's batches go to. */
  shardOf(key: string): number {
    return shardOfKey(key, this.shards);
  }

  /**
   * Publishes a batch to the shard of its key; resolves once it is durable. Examples whose JSON
   * is over `inlineMaxBytes` (or that the queue refuses as too large) are written to a blob
   * first and the message carries a reference to it. Waits while the shard is full.
   */
  async publish(batch: FeedBatchInput, options: FeedPublishOptions = {}): Promise<FeedPublished> {
    checkPublish(options);
    const shard = this.shardOf(options.key ?? batch.run);
    const id = options.id ?? createId();
    const head = {
      run: batch.run,
      step: batch.step,
      ...(batch.epoch === undefined ? {} : { epoch: batch.epoch }),
    };
    const json = JSON.stringify(batch.examples);
    if (Buffer.byteLength(json) <= this.#inlineMaxBytes) {
      try {
        const r = await this.#enqueue(shard, id, { ...head, examples: batch.examples }, options);
        return { id, shard, duplicate: r.duplicate };
      } catch (err) {
        if (!(err instanceof PayloadTooLargeError)) throw err;
      }
    }
    const ref = await this.#putExamples(shard, id, json, batch.examples.length, options.signal);
    const r = await this.#enqueue(shard, id, { ...head, ref }, options);
    return { id, shard, duplicate: r.duplicate, ref };
  }

  async #putExamples(
    shard: number,
    id: string,
    json: string,
    count: number,
    signal: AbortSignal | undefined,
  ): Promise<TrainingBatchRef> {
    const blob = feedBlobName(this.name, shard, id);
    const bytes = Buffer.from(json);
    const manifest = await this.#ctx.bus.blobs.put(blob, bytes, {
      version: id,
      contentType: 'application/json',
      meta: { feed: this.name, shard: String(shard), examples: String(count) },
      ...(signal === undefined ? {} : { signal }),
    });
    return { blob, version: manifest.version, sum: manifest.sum, size: manifest.size, count };
  }

  async #enqueue(
    shard: number,
    id: string,
    body: TrainingBatch,
    options: FeedPublishOptions,
  ): Promise<{ duplicate: boolean }> {
    const queue = this.#ctx.shardQueue(shard);
    const until = Date.now() + (options.waitMs ?? 60_000);
    let pause = 20;
    for (;;) {
      try {
        return await queue.enqueue(body, { kind: 'training.batch', key: feedShardKey(shard), id });
      } catch (err) {
        // Backpressure: a full shard waits for its trainer to take batches out.
        if (!(err instanceof OverloadedError) || Date.now() + pause > until) throw err;
        if (options.signal?.aborted) throw options.signal.reason;
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(pause * 2, 500);
      }
    }
  }

  /** Starts a trainer: it claims shards and yields their batches; see FeedTrainer. */
  trainer(options: FeedTrainerOptions = {}): FeedTrainer {
    return new FeedTrainer(this.#ctx, options);
  }

  /** A shard's checkpoint as stored, or undefined when nothing was committed yet. */
  checkpoint(shard: number): Promise<FeedCheckpoint | undefined> {
    this.#checkShard(shard);
    return this.#ctx.readCheckpoint(shard);
  }

  /**
   * Sets a shard's checkpoint by hand (an operator's act: every batch at or below `steps` is
   * then skipped). Meant for a shard no trainer holds.
   */
  async setCheckpoint(
    shard: number,
    steps: Record<string, number>,
    state?: unknown,
  ): Promise<void> {
    this.#checkShard(shard);
    for (const [run, step] of Object.entries(steps)) {
      if (run.length === 0 || !Number.isInteger(step) || step < 0) {
        throw new ConfigError(`checkpoint step of run '${run}' must be an integer ≥ 0`);
      }
    }
    await this.#ctx.writeCheckpoint({
      v: 1,
      feed: this.name,
      shard,
      steps,
      ...(state === undefined ? {} : { state }),
      by: 'operator',
      at: Date.now(),
    });
  }

  /** Each shard's queue counts. */
  async stats(): Promise<(QueueStats & { shard: number })[]> {
    const out: (QueueStats & { shard: number })[] = [];
    for (let shard = 0; shard < this.shards; shard++) {
      out.push({ shard, ...(await this.#ctx.shardQueue(shard).stats()) });
    }
    return out;
  }

  #checkShard(shard: number): void {
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.shards) {
      throw new ConfigError(`feed '${this.name}' has shards 0 to ${this.shards - 1}, not ${shard}`);
    }
  }
}

/** Opens a training feed on a bus (the same options in every producer and trainer). */
export function createFeed(bus: Bus, options: FeedOptions): Feed {
  return new Feed(bus, options);
}
