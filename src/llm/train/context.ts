// What the parts of a training feed share: its options, its queues (one per shard and one of
// shard tokens), its checkpoint store and where its errors go.
import type { Bus } from '../../bus/api.js';
import type { BusQueue } from '../../bus/queue.js';
import { ConfigError, type Envelope, type TrainingBatch } from '../../protocol/index.js';
import type { RecordStore } from '../../transport/records.js';
import type { QueueOptions } from '../../transport/transport.js';
import { decodeCheckpoint, encodeCheckpoint, type FeedCheckpoint } from './checkpoint.js';
import { FEED_RECORD_STORE, feedCheckpointKey, feedShardQueue, feedTokenQueue } from './names.js';

export interface FeedOptions {
  /** The feed's name: 1 to 48 letters, digits, `_` or `-`. */
  name: string;
  /** Shards, 1 to 1024. Every producer and trainer of a feed must use the same count. */
  shards: number;
  /** Lease of a batch and of a shard held by a trainer, in ms; renewed while held. Default 10 s. */
  leaseMs?: number;
  /** Deliveries of a batch before it is dead-lettered. Default 5. */
  maxAttempts?: number;
  /** Batches a shard holds at most; `publish` waits while its shard is full. Default 1000. */
  maxDepth?: number;
  /** Batches whose JSON is larger than this go by blob reference. Default 256 KiB. */
  inlineMaxBytes?: number;
  /** Largest batch a trainer reads from a blob. Default 256 MiB. */
  maxBatchBytes?: number;
  /** Where checkpoints are kept. Default: the transport's record store `feeds`. */
  records?: RecordStore;
  /** Errors with nowhere else to go (a batch refused). Default: the bus's `onError`. */
  onError?: (error: unknown, env?: Envelope) => void;
}

/** What the feed's parts share: its queues, its checkpoint store and its error sink. */
export class FeedContext {
  readonly leaseMs: number;
  readonly maxBatchBytes: number;
  readonly #queueOptions: QueueOptions;
  readonly #queues = new Map<number, BusQueue<TrainingBatch>>();
  #records: RecordStore | undefined;

  constructor(
    readonly bus: Bus,
    readonly name: string,
    readonly shards: number,
    private readonly options: FeedOptions,
  ) {
    this.leaseMs = options.leaseMs ?? 10_000;
    this.maxBatchBytes = options.maxBatchBytes ?? 256 * 1024 * 1024;
    this.#queueOptions = {
      leaseMs: this.leaseMs,
      maxAttempts: options.maxAttempts ?? 5,
      maxDepth: options.maxDepth ?? 1000,
    };
    this.#records = options.records;
  }

  shardQueue(shard: number): BusQueue<TrainingBatch> {
    let q = this.#queues.get(shard);
    if (q === undefined) {
      q = this.bus.queue<TrainingBatch>(feedShardQueue(this.name, shard), this.#queueOptions);
      this.#queues.set(shard, q);
    }
    return q;
  }

  /** The shard tokens: never acked, so a token is always held or ready; leased to its trainer. */
  tokenQueue(): BusQueue<{ type: string; data: { feed: string; shard: number } }> {
    return this.bus.queue(feedTokenQueue(this.name), {
      leaseMs: this.leaseMs,
      maxAttempts: 2 ** 31 - 1,
      backoff: { initialMs: 0, maxMs: 0, jitter: 0 },
    });
  }

  records(): RecordStore {
    if (this.#records !== undefined) return this.#records;
    const transport = this.bus.transport;
    if (transport.records === undefined) {
      throw new ConfigError(
        `the ${transport.name} transport keeps no records, so feed '${this.name}' has nowhere to keep checkpoints: give the feed a record store (createFeed(bus, { records }))`,
      );
    }
    this.#records = transport.records(FEED_RECORD_STORE);
    return this.#records;
  }

  async readCheckpoint(shard: number): Promise<FeedCheckpoint | undefined> {
    const key = feedCheckpointKey(this.name, shard);
    const bytes = await this.records().get(key);
    return bytes === undefined ? undefined : decodeCheckpoint(bytes, key);
  }

  async writeCheckpoint(checkpoint: FeedCheckpoint): Promise<void> {
    const key = feedCheckpointKey(this.name, checkpoint.shard);
    await this.records().put(key, encodeCheckpoint(checkpoint));
  }

  reportError(error: unknown, env?: Envelope): void {
    if (this.options.onError !== undefined) this.options.onError(error, env);
    else this.bus.reportError(error, env);
  }
}
