// The bus: the semantics every llmwire component speaks, the same on every transport.
export {
  Bus,
  createBus,
  type BusOptions,
  type PublishOptions,
  type RequestOptions,
  type ServeOptions,
  type ServeHandler,
  type HandlerContext,
} from './bus.js';
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
