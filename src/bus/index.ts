// The bus: the semantics every llmwire component speaks, the same on every transport.
export { createBus } from './bus.js';
export { type Bus, type BusOptions, type ServeHandler } from './api.js';
export {
  type PublishOptions,
  type RequestOptions,
  type ServeOptions,
  type HandlerContext,
} from './options.js';
export { type Message, type ReplyOptions, replyKindFor } from './message.js';
export { Subscription, type SubscriptionOptions } from './subscription.js';
export { type ResponseStream } from './stream.js';
export { type CoalesceOptions } from './coalesce.js';
export {
  BusQueue,
  type Job,
  type ConsumeOptions,
  type Consumer,
  type QueueEnqueueOptions,
  type QueueEvent,
} from './queue.js';
export {
  Blobs,
  type BlobSource,
  type BlobProgress,
  type BlobPutOptions,
  type BlobGetOptions,
  type BlobDownload,
  type BlobReader,
  type BlobEntry,
} from './blobs.js';
export {
  createScatter,
  type Scatter,
  type ScatterOptions,
  type ShardBody,
  type ShardContext,
  type ShardHandler,
  type StartOptions,
  type WorkOptions,
} from './scatter.js';
export {
  ScatterJob,
  type ScatterProgress,
  type ScatterResult,
  type ScatterStatus,
  type ShardOutcome,
  type WaitOptions,
} from './scatter-job.js';
export { type ShardFailureMode } from './job-records.js';
export {
  createPipeline,
  type Pipeline,
  type PipelineOptions,
  type PipelineOutput,
  type StageBody,
  type StageContext,
  type StageSpec,
} from './pipeline.js';
