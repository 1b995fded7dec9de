// Spans at the hops of a request. With an OpenTelemetry tracer a span is recorded and exported;
// without one only its W3C context is made (two random ids), so trace ids still travel on every
// message at almost no cost.
import {
  createTraceState,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { childContext, formatTraceparent, type TraceContext } from './trace-context.js';

export { SpanKind, type Tracer };

export type SpanAttributes = Attributes;

/** One hop's span: its context goes onto the next message or HTTP call. */
export class TraceSpan {
  private ended = false;
  private constructor(
    readonly context: TraceContext,
    private readonly span: Span | undefined,
  ) {}

  /** Starts a span under `parent` (a new trace when undefined). */
  static start(
    tracer: Tracer | undefined,
    name: string,
    parent: TraceContext | undefined,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes?: SpanAttributes,
  ): TraceSpan {
    if (tracer === undefined) return new TraceSpan(childContext(parent), undefined);
    const span = tracer.startSpan(
      name,
      attributes === undefined ? { kind } : { kind, attributes },
      parentContext(parent),
    );
    const sc = span.spanContext();
    const tracestate = sc.traceState?.serialize() || parent?.tracestate;
    return new TraceSpan(
      {
        traceId: sc.traceId,
        spanId: sc.spanId,
        flags: sc.traceFlags,
        ...(tracestate === undefined || tracestate === '' ? {} : { tracestate }),
      },
      span,
    );
  }

  /**
   * Records a span that has already happened, from `startedAt` (a `performance.now()` time) to
   * now, for a step whose span is only worth having once it is known how it went (a queue wait
   * that did wait, or failed). Nothing is made without a tracer: its context goes nowhere.
   */
  static record(
    tracer: Tracer | undefined,
    name: string,
    parent: TraceContext | undefined,
    startedAt: number,
    error?: unknown,
  ): void {
    if (tracer === undefined) return;
    // As ms since the epoch, the one reading of a number every tracer shares.
    const origin = performance.timeOrigin;
    const span = tracer.startSpan(
      name,
      { kind: SpanKind.INTERNAL, startTime: origin + startedAt },
      parentContext(parent),
    );
    endSpan(span, error, origin + performance.now());
  }

  get traceId(): string {
    return this.context.traceId;
  }

  /** This span as a `traceparent` header value. */
  get traceparent(): string {
    return formatTraceparent(this.context);
  }

  /** True when attributes set on this span go anywhere. */
  get recording(): boolean {
    return this.span?.isRecording() === true;
  }

  set(attributes: SpanAttributes): this {
    this.span?.setAttributes(attributes);
    return this;
  }

  /** Ends the span; an error marks it failed, with the error's stable code when it has one. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (this.span !== undefined) endSpan(this.span, error);
  }
}

/** The OpenTelemetry context of a span's parent: the root when there is none. */
function parentContext(parent: TraceContext | undefined): Context {
  if (parent === undefined) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: parent.flags,
    isRemote: true,
    ...(parent.tracestate === undefined ? {} : { traceState: createTraceState(parent.tracestate) }),
  });
}

/** Ends `span` at `endTime` (default now); an error marks it failed with its stable code. */
function endSpan(span: Span, error: unknown, endTime?: number): void {
  if (error !== undefined) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') span.setAttribute('error.type', code);
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : 'failed',
    });
  }
  span.end(endTime);
}
