// Operations: W3C trace context, OpenTelemetry spans and structured logs.
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
  LOG_LEVELS,
  parseLogLevel,
  REDACTED,
  silentLogger,
  type Logger,
  type LoggerOptions,
  type LogLevel,
} from './log.js';
