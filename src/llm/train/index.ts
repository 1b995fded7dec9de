// Training feeds: sharded, ordered, checkpointed feeds of training.batch messages.
export {
  createFeed,
  Feed,
  type FeedBatchInput,
  type FeedPublished,
  type FeedPublishOptions,
} from './feed.js';
export type { FeedOptions } from './context.js';
export { FeedTrainer, type FeedBatch, type FeedTrainerOptions } from './trainer.js';
export type { FeedCheckpoint } from './checkpoint.js';
export { shardOfKey } from './names.js';
