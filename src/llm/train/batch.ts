// A batch as a trainer holds it: its data, and the commit and retry that settle it once.
import type { TrainingBatch, TrainingBatchRef, TrainingExample } from '../../protocol/index.js';
import { ConfigError } from '../../protocol/index.js';
import type { Delivery } from '../../transport/transport.js';
import type { FeedCheckpoint } from './checkpoint.js';
import type { FeedContext } from './context.js';

/** One batch handed to a trainer. Commit it after the step, or retry it. */
export interface FeedBatch {
  readonly feed: string;
  readonly shard: number;
  /** The message id. */
  readonly id: string;
  readonly run: string;
  readonly step: number;
  readonly epoch: number | undefined;
  readonly examples: readonly TrainingExample[];
  /** Where the examples came from, when they went by blob reference. */
  readonly ref: TrainingBatchRef | undefined;
  /** 1 on the first delivery. */
  readonly attempt: number;
  /** The shard's checkpoint when the batch was read: the state to resume from, if any. */
  readonly checkpoint: FeedCheckpoint | undefined;
  /**
   * The step is done: writes the shard's checkpoint (this step for this run, and `state` if
   * given, else the state kept before), then removes the batch from the feed. A crash after the
   * checkpoint is written and before the removal is harmless: the batch comes back and is skipped.
   */
  commit(state?: unknown): Promise<void>;
  /** The step failed: the batch comes back after the queue's backoff (dead letter at the end). */
  retry(): Promise<void>;
}

/** A batch handed out (or ready to be) and not settled yet. */
export interface OpenBatch {
  readonly batch: FeedBatch;
  /** Resolves once the batch is committed, retried or given back. */
  readonly done: Promise<void>;
  /** Sends the batch back to the feed unless it is settled already. */
  giveBack(): Promise<void>;
}

export function openBatch(
  ctx: FeedContext,
  trainer: string,
  read: {
    shard: number;
    delivery: Delivery;
    body: TrainingBatch;
    examples: readonly TrainingExample[];
    checkpoint: FeedCheckpoint | undefined;
  },
  hooks: {
    stopRenew(): void;
    settled(open: OpenBatch): void;
    dropBlob(ref: TrainingBatchRef): void;
  },
): OpenBatch {
  const { shard, delivery, body, examples, checkpoint } = read;
  let settle!: () => void;
  const done = new Promise<void>((resolve) => (settle = resolve));
  let state: 'open' | 'being committed' | 'settled' = 'open';
  const settled = () => {
    state = 'settled';
    hooks.stopRenew();
    hooks.settled(open);
    settle();
  };
  const claim = (what: string) => {
    if (state !== 'open') {
      throw new ConfigError(
        `batch ${body.run}@${body.step} of shard ${shard} is ${state === 'settled' ? 'already settled (committed, retried, or given back when the trainer stopped)' : state}; it cannot ${what}`,
      );
    }
  };
  const batch: FeedBatch = {
    feed: ctx.name,
    shard,
    id: delivery.envelope.id,
    run: body.run,
    step: body.step,
    epoch: body.epoch,
    examples,
    ref: body.ref,
    attempt: delivery.attempt,
    checkpoint,
    commit: async (saved?: unknown) => {
      claim('be committed');
      state = 'being committed';
      try {
        const kept = saved === undefined ? checkpoint?.state : saved;
        await ctx.writeCheckpoint({
          v: 1,
          feed: ctx.name,
          shard,
          steps: { ...checkpoint?.steps, [body.run]: body.step },
          ...(kept === undefined ? {} : { state: kept }),
          by: trainer,
          at: Date.now(),
        });
      } catch (err) {
        state = 'open';
        throw err;
      }
      settled();
      // The checkpoint now covers the batch: if this removal is lost, the batch is skipped.
      await delivery.ack();
      if (body.ref !== undefined) hooks.dropBlob(body.ref);
    },
    retry: async () => {
      claim('be retried');
      settled();
      await delivery.nack();
    },
  };
  const open: OpenBatch = {
    batch,
    done,
    giveBack: async () => {
      if (state !== 'open') return;
      settled();
      await delivery.nack({ delayMs: 0 });
    },
  };
  return open;
}
