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
    const parentCtx =
      parent === undefined
        ? ROOT_CONTEXT
        : trace.setSpanContext(ROOT_CONTEXT, {
            traceId: parent.traceId,
            spanId: parent.spanId,
            traceFlags: parent.flags,
            isRemote: true,
            ...(parent.tracestate === undefined
              ? {}
              : { traceState: createTraceState(parent.tracestate) }),
          });
    const span = tracer.startSpan(
      name,
      attributes === undefined ? { kind } : { kind, attributes },
      parentCtx,
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
    const span = this.span;
    if (span === undefined) return;
    if (error !== undefined) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string') span.setAttribute('error.type', code);
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : 'failed',
      });
    }
    span.end();
  }
}
