// One object per gateway request that sees all of it: created when the request arrives, fed
// its events (admitted, routed to a worker, first token, tokens, failover, its result, how it
// ended), and the one place that reports them: metrics through the gateway's observers, the
// request's span (under an incoming valid `traceparent`, else the root of a new trace), and the
// one "request finished" log line.
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
import type { GatewayObserver, RequestObserver } from './observe.js';

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

/** What the gateway's requests report to, shared by all of them. */
export interface ObservationSinks {
  logger: Logger;
  tracer?: Tracer | undefined;
  /** Metrics and any other observers; undefined when none. */
  observer?: GatewayObserver | undefined;
  logBodies: boolean;
}

/** What one request is, as the gateway sees it on arrival. */
export interface RequestArrival {
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  /** `METHOD /path` of the route served; undefined when none matches. */
  route: string | undefined;
  /** The endpoint label metrics count it under; undefined for paths metrics do not count. */
  endpoint: string | undefined;
  /** ms since the epoch. */
  arrived: number;
  /** Fires when the client goes away: an error then counts as a cancellation. */
  signal: AbortSignal;
}

/** The events dispatch reports per attempt (dispatch.ts). */
export type AttemptEvents = Pick<RequestObserver, 'attempt' | 'tokens' | 'failover'>;

export class RequestObservation implements AttemptEvents {
  readonly span: TraceSpan;
  readonly log: Logger;
  readonly record: RequestRecord = {};
  readonly requestId: string;
  private readonly route: string | undefined;
  /** The observers' view of this request once its model is known (see `begin`). */
  private observed: RequestObserver | undefined;
  /** The code metrics count the request under; `cancelled` when the client went away. */
  private code: string | undefined;
  /** Usage of an answer that is not an inference result (embeddings). */
  private usage: { prompt_tokens?: number } | undefined;

  constructor(
    private readonly sinks: ObservationSinks,
    private readonly arrival: RequestArrival,
  ) {
    const { req, res, requestId, route } = arrival;
    this.requestId = requestId;
    this.route = route;
    const incoming = header(req.headers.traceparent);
    const parent = parseTraceparent(incoming, req.headers.tracestate);
    this.span = TraceSpan.start(
      sinks.tracer,
      route ?? req.method ?? 'HTTP',
      parent,
      SpanKind.SERVER,
      {
        'http.request.method': req.method ?? 'GET',
        ...(route === undefined ? {} : { 'http.route': route.slice(route.indexOf(' ') + 1) }),
        'llmwire.request_id': requestId,
      },
    );
    this.log = sinks.logger.child({ requestId, traceId: this.span.traceId });
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

  /**
   * The request's model is known: observers start counting it. Returns the events dispatch
   * reports to, or undefined when nobody observes (then the token path calls nothing).
   */
  begin(
    endpoint: string,
    model: string,
    tenant: string,
    stream: boolean,
  ): AttemptEvents | undefined {
    this.record.model = model;
    const observer = this.sinks.observer;
    if (observer === undefined) return undefined;
    this.observed = observer.request({
      endpoint,
      model,
      tenant,
      stream,
      arrived: this.arrival.arrived,
      requestId: this.requestId,
    });
    return this;
  }

  /** A slot was granted after `queuedMs` in the admission queue. */
  admitted(queuedMs: number): void {
    this.observed?.admitted(queuedMs);
  }

  /** A worker was picked (again after a failover). */
  attempt(worker: string): void {
    this.observed?.attempt(worker);
  }

  /** `n` token deltas reached the gateway together. */
  tokens(n: number): void {
    this.observed?.tokens(n);
  }

  /** The worker failed with a code that lets another take over. */
  failover(worker: string, code: string): void {
    this.observed?.failover(worker, code);
  }

  /** The first token (or, not streamed, the answer) is ready for the client. */
  firstToken(): void {
    this.record.ttftMs = Date.now() - this.arrival.arrived;
  }

  /** Notes how an inference ended: its worker, its tokens and, with logBodies, its text. */
  result(request: InferenceRequest, result: InferenceResult): void {
    const r = this.record;
    if (result.worker !== undefined) r.worker = result.worker;
    r.promptTokens = result.usage.prompt_tokens;
    r.completionTokens = result.usage.completion_tokens;
    if (this.sinks.logBodies) {
      r.body = request.messages ?? request.prompt;
      r.answer = result.text;
    }
  }

  /** Embeddings counted in `usage` (metrics only: the finished line has no embedding fields). */
  embedded(usage: { prompt_tokens?: number } | undefined): void {
    this.usage = usage;
  }

  /** A begun stream ended with an error event carrying `code`. */
  streamFailed(code: string): void {
    this.code = code;
    this.record.error = code;
  }

  /** The client closed a begun stream. */
  clientGone(): void {
    this.code = 'cancelled';
  }

  /** A child span of this request (dispatch). */
  child(name: string, kind: SpanKind = SpanKind.INTERNAL): TraceSpan {
    return TraceSpan.start(this.sinks.tracer, name, this.span.context, kind);
  }

  /** A child span that has already happened, from `startedAt` (performance.now()) to now. */
  pastChild(name: string, startedAt: number, error?: unknown): void {
    TraceSpan.record(this.sinks.tracer, name, this.span.context, startedAt, error);
  }

  /**
   * The request is over, answered with `status` (and `error` when it threw): metrics count its
   * outcome (or its rejection, when it failed before its model was known), the span ends and
   * the finished line is written: info for the API, debug for health checks.
   */
  finish(status: number, tenant: string, error?: unknown): void {
    const r = this.record;
    const code = error === undefined ? undefined : toWireError(error).code;
    if (code !== undefined) {
      r.error ??= code;
      this.code = code;
    }
    this.report(tenant, code);
    const durationMs = Date.now() - this.arrival.arrived;
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
    if (this.sinks.logBodies && r.body !== undefined) line.body = r.body;
    if (this.sinks.logBodies && r.answer !== undefined) line.answer = r.answer;
    if (api) this.log.info(line, 'request finished');
    else this.log.debug(line, 'request finished');
  }

  /** The outcome metrics count: a failure after the client went away is a cancellation. */
  private report(tenant: string, thrown: string | undefined): void {
    const observer = this.sinks.observer;
    if (observer === undefined) return;
    const observed = this.observed;
    if (observed === undefined) {
      const endpoint = this.arrival.endpoint;
      if (thrown !== undefined && endpoint !== undefined)
        observer.rejected(endpoint, tenant, thrown);
      return;
    }
    const r = this.record;
    const code = this.code !== undefined && this.arrival.signal.aborted ? 'cancelled' : this.code;
    observed.end({
      code,
      usage:
        r.completionTokens === undefined
          ? this.usage
          : { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens },
    });
  }
}

function header(value: string | string[] | undefined): string | undefined {
  // A repeated traceparent is invalid (Trace Context §3.2): a new trace starts.
  return typeof value === 'string' ? value : undefined;
}
