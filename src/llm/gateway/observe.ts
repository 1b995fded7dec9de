// What the gateway records about each HTTP request: its span (under an incoming valid
// `traceparent`, else the root of a new trace), a logger bound to its request id and trace id,
// and the one "request finished" line. Also logs the workers joining and leaving.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  parseTraceparent,
  SpanKind,
  TraceSpan,
  type Logger,
  type TraceContext,
  type Tracer,
} from '../../ops/index.js';
import { toWireError, type InferenceRequest, type InferenceResult } from '../../protocol/index.js';
import type { WorkerRegistry } from './registry.js';

/** Filled in while the request runs; written on its finished line. */
export interface RequestRecord {
  model?: string;
  worker?: string;
  /** ms from arrival to the first token (or to the answer, when not streamed). */
  ttftMs?: number;
  promptTokens?: number;
  completionTokens?: number;
  /** Stable code of the error that ended the request, also when it ended a begun stream. */
  error?: string;
  /** With logBodies only: what was asked and answered. */
  body?: unknown;
  answer?: string;
}

export class RequestObservation {
  readonly span: TraceSpan;
  readonly log: Logger;
  readonly record: RequestRecord = {};

  constructor(
    private readonly tracer: Tracer | undefined,
    logger: Logger,
    req: IncomingMessage,
    res: ServerResponse,
    readonly requestId: string,
    readonly route: string | undefined,
    readonly logBodies: boolean,
  ) {
    const incoming = header(req.headers.traceparent);
    const parent = parseTraceparent(incoming, req.headers.tracestate);
    this.span = TraceSpan.start(tracer, route ?? req.method ?? 'HTTP', parent, SpanKind.SERVER, {
      'http.request.method': req.method ?? 'GET',
      ...(route === undefined ? {} : { 'http.route': route.slice(route.indexOf(' ') + 1) }),
      'llmwire.request_id': requestId,
    });
    this.log = logger.child({ requestId, traceId: this.span.traceId });
    if (incoming !== undefined && parent === undefined) {
      this.log.debug({ traceparent: incoming.slice(0, 64) }, 'invalid traceparent ignored');
    }
    // Answers carry the gateway's span, so a client can find its request in the trace.
    res.setHeader('traceparent', this.span.traceparent);
    res.setHeader('x-llmwire-trace-id', this.span.traceId);
  }

  get context(): TraceContext {
    return this.span.context;
  }

  /** Notes how an inference ended: its worker, its tokens and, with logBodies, its text. */
  result(request: InferenceRequest, result: InferenceResult): void {
    const r = this.record;
    if (result.worker !== undefined) r.worker = result.worker;
    r.promptTokens = result.usage.prompt_tokens;
    r.completionTokens = result.usage.completion_tokens;
    if (this.logBodies) {
      r.body = request.messages ?? request.prompt;
      r.answer = result.text;
    }
  }

  /** A child span of this request (queue wait, dispatch). */
  child(name: string, kind: SpanKind = SpanKind.INTERNAL): TraceSpan {
    return TraceSpan.start(this.tracer, name, this.span.context, kind);
  }

  /** Ends the span and writes the finished line: info for the API, debug for health checks. */
  finish(status: number, arrived: number, tenant: string, error?: unknown): void {
    const r = this.record;
    if (error !== undefined && r.error === undefined) r.error = toWireError(error).code;
    const durationMs = Date.now() - arrived;
    this.span.set({ 'http.response.status_code': status });
    if (r.model !== undefined) this.span.set({ 'gen_ai.request.model': r.model });
    if (r.worker !== undefined) this.span.set({ 'llmwire.worker': r.worker });
    if (r.completionTokens !== undefined) {
      this.span.set({
        'gen_ai.usage.input_tokens': r.promptTokens ?? 0,
        'gen_ai.usage.output_tokens': r.completionTokens,
      });
    }
    this.span.end(r.error === undefined && status < 500 ? undefined : (error ?? { code: r.error }));
    const api = this.route?.includes(' /v1/') === true;
    if (!this.log.isLevelEnabled(api ? 'info' : 'debug')) return;
    const line: Record<string, unknown> = {
      route: this.route ?? 'unknown',
      status,
      tenant,
      durationMs,
    };
    if (r.model !== undefined) line.model = r.model;
    if (r.worker !== undefined) line.worker = r.worker;
    if (r.ttftMs !== undefined) line.ttftMs = r.ttftMs;
    if (r.promptTokens !== undefined) line.promptTokens = r.promptTokens;
    if (r.completionTokens !== undefined) line.completionTokens = r.completionTokens;
    if (r.error !== undefined) line.error = r.error;
    if (this.logBodies && r.body !== undefined) line.body = r.body;
    if (this.logBodies && r.answer !== undefined) line.answer = r.answer;
    if (api) this.log.info(line, 'request finished');
    else this.log.debug(line, 'request finished');
  }
}

function header(value: string | string[] | undefined): string | undefined {
  // A repeated traceparent is invalid (Trace Context §3.2): a new trace starts.
  return typeof value === 'string' ? value : undefined;
}

/** Logs workers joining, draining and being lost, as the registry sees them. */
export function logRegistry(registry: WorkerRegistry, log: Logger): () => void {
  return registry.on((e) => {
    const fields = { worker: e.worker.id, models: e.worker.models, status: e.worker.status };
    switch (e.type) {
      case 'joined':
        log.info({ ...fields, capacity: e.worker.capacity }, 'worker joined');
        return;
      case 'lost':
        if (e.reason === 'stopped') log.info(fields, 'worker left');
        else log.warn(fields, 'worker lost');
        return;
      case 'draining':
        log.info(fields, 'worker draining');
        return;
      case 'changed':
        log.debug(fields, 'worker changed');
        return;
    }
  });
}
