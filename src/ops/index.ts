// llmwire/ops: observability — Prometheus metrics for gateways, workers and durable queues, the
// metrics endpoint for processes without a gateway, and the live dashboard.
export {
  GatewayMetrics,
  type GatewayMetricsOptions,
  type ModelLoad,
  type RecentError,
  type RequestEnd,
  type RequestMetrics,
  type RequestStart,
  type WorkerLoad,
} from './metrics-gateway.js';
export {
  WorkerMetrics,
  type WorkerBeat,
  type WorkerOutcome,
  type WorkerRequestMetrics,
} from './metrics-worker.js';
export { QueueMetrics, type QueueCounts, type WatchedQueue } from './metrics-queue.js';
export { SeriesHistogram, quantile, type BucketCounts } from './metrics-histogram.js';
export { BUCKETS, LabelGuard, OTHER_LABEL } from './metrics-labels.js';
export { serveMetrics, type MetricsServer } from './serve.js';
export { Dashboard, type DashboardOptions } from './dashboard/index.js';
