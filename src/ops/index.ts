// llmwire/ops: observability — Prometheus metrics for gateways, workers and durable queues, the
// metrics endpoint for processes without a gateway, the live dashboard, W3C trace context,
// OpenTelemetry spans and structured logs.
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
export {
  childContext,
  contextOf,
  formatTraceparent,
  MAX_TRACESTATE_LENGTH,
  newSpanId,
  newTraceId,
  parseTraceparent,
  parseTracestate,
  SAMPLED,
  traceFields,
  traceIdOf,
  type TraceContext,
} from './trace-context.js';
export { SpanKind, TraceSpan, type SpanAttributes, type Tracer } from './trace.js';
export { setupTracing, tracesEndpoint, type TracingOptions, type TracingSetup } from './otel.js';
export {
  BODY_FIELDS,
  createLogger,
  isoTimeMember,
  LOG_LEVELS,
  parseLogLevel,
  REDACTED,
  silentLogger,
  type Logger,
  type LoggerOptions,
  type LogLevel,
} from './log.js';
export { maskCredentials } from './mask.js';
