// The OpenAI-compatible backend: relays requests to any server that speaks the OpenAI HTTP API
// (vLLM, llama.cpp server, Ollama, OpenAI) with the official SDK, streaming the answer back, or
// asking for it whole when the client did not ask for a stream.
// The caller's AbortSignal reaches the HTTP request, so a cancelled client frees the upstream.
import type { IncomingMessage } from 'node:http';
import OpenAI from 'openai';
import type {
  EmbeddingRequest,
  EmbeddingResult,
  InferenceRequest,
  Usage,
} from '../../../protocol/index.js';
import { Type } from '@sinclair/typebox';
import { ConfigError, optionsCheck, UpstreamError } from '../../../protocol/index.js';
import { SpanKind, traceFields, TraceSpan } from '../../../ops/index.js';
import { promptText } from '../../routing/prefix.js';
import type { Backend, GenerateEnd, GenerateOptions, ParamsLoad, TokenDelta } from '../backend.js';
import { ParamsHook } from './params.js';
import { ModelNames } from '../config.js';
import { abortError, throwIfAborted } from '../signal.js';
import { toUpstreamError } from './errors.js';
import { type ContinuationMode, chatBody, completionBody, wholeBody } from './request.js';
import { chatAnswer, chatDelta, completionAnswer, completionDelta, type Ending } from './chunks.js';
import { sseChunks } from './stream.js';
import { readAll, UpstreamHttp } from './http.js';

export { CONTINUE_INSTRUCTION, type ContinuationMode } from './request.js';

export interface OpenAIBackendOptions {
  /** The upstream's API root, e.g. http://127.0.0.1:8000/v1. */
  baseURL: string;
  /** Sent as a bearer token. Local servers usually ignore it. */
  apiKey?: string;
  /** Models served; when absent, `init()` asks the upstream (GET /models). */
  models?: string[];
  /**
   * Longest wait for the upstream: for its response, then between two streamed chunks.
   * The request's own deadline arrives through the signal. Default 60000.
   */
  timeoutMs?: number;
  /** Extra headers on every upstream request. */
  headers?: Record<string, string>;
  /** How a chat answer continues after failover (see ContinuationMode). Default 'instruct'. */
  continuation?: ContinuationMode;
  /** Ask for usage in the stream (stream_options.include_usage); off for servers that reject it. */
  streamUsage?: boolean;
  /**
   * Params rollouts (llm/params): a URL POSTed each version to load (`{action, model, adapter,
   * version, path, sum, size}`); see params.ts. Absent: this backend takes no rollouts.
   */
  paramsHook?: string;
}

const WHAT = 'openai backend';
const checkOptions = optionsCheck(
  WHAT,
  Type.Object(
    {
      baseURL: Type.String({ minLength: 1 }),
      apiKey: Type.Optional(Type.String({ minLength: 1 })),
      models: Type.Optional(ModelNames),
      timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
      headers: Type.Optional(Type.Record(Type.String(), Type.String())),
      continuation: Type.Optional(
        Type.Union([Type.Literal('instruct'), Type.Literal('final-message')]),
      ),
      streamUsage: Type.Optional(Type.Boolean()),
      paramsHook: Type.Optional(Type.String({ minLength: 1 })),
    },
    { additionalProperties: false },
  ),
);

export class OpenAIBackend implements Backend {
  readonly kind = 'openai';
  /** Models and embeddings: the SDK. */
  private readonly client: OpenAI;
  /** Chat and completions, the hot path: node:http (http.ts). */
  private readonly http: UpstreamHttp;
  private readonly timeoutMs: number;
  private readonly continuation: ContinuationMode;
  private readonly streamUsage: boolean;
  private served: string[];
  private readonly discover: boolean;
  private readonly hook: ParamsHook | undefined;
  /** Present only with a `paramsHook`, so a worker takes rollouts only then. */
  readonly loadParams?: (load: ParamsLoad) => Promise<void>;
  readonly unloadParams?: (p: {
    model: string;
    adapter?: string | undefined;
    version: string;
  }) => Promise<void>;

  constructor(options: OpenAIBackendOptions) {
    const o = checkOptions(options);
    const baseURL = o.baseURL;
    if (!/^https?:\/\//.test(baseURL) || !URL.canParse(baseURL)) {
      throw new ConfigError(
        `${WHAT}: 'baseURL' must be an http(s) URL, got ${JSON.stringify(baseURL)}`,
      );
    }
    this.served = o.models === undefined ? [] : [...o.models];
    this.discover = o.models === undefined;
    this.timeoutMs = o.timeoutMs ?? 60_000;
    this.continuation = o.continuation ?? 'instruct';
    this.streamUsage = o.streamUsage ?? true;
    if (o.paramsHook !== undefined) {
      const hook = new ParamsHook(o.paramsHook, { ...o.headers }, this.timeoutMs);
      this.hook = hook;
      this.loadParams = (load) => hook.load(load);
      this.unloadParams = (p) => hook.unload(p);
    }
    this.http = new UpstreamHttp(baseURL, {
      authorization: `Bearer ${o.apiKey ?? 'none'}`,
      ...o.headers,
    });
    this.client = new OpenAI({
      baseURL,
      // The SDK insists on a key; servers without auth ignore it.
      apiKey: o.apiKey ?? 'none',
      // Retries and failover belong to the bus and router, which know the deadline; retrying
      // here as well would multiply attempts and hide a failing upstream.
      maxRetries: 0,
      timeout: this.timeoutMs,
      defaultHeaders: { ...o.headers },
      // Not from the environment: an upstream's identity comes from this config alone.
      organization: null,
      project: null,
    });
  }

  /** Learns the served models from the upstream when none were configured. */
  async init(): Promise<void> {
    if (!this.discover) return;
    const signal = new AbortController().signal;
    try {
      const ids: string[] = [];
      for await (const model of this.client.models.list()) ids.push(model.id);
      this.served = ids;
    } catch (err) {
      throw toUpstreamError(err, { signal, timedOut: false, timeoutMs: this.timeoutMs });
    }
  }

  models(): string[] {
    return [...this.served];
  }

  async *generate(
    asked: InferenceRequest,
    { signal, trace, params, whole }: GenerateOptions,
  ): AsyncGenerator<TokenDelta, GenerateEnd> {
    throwIfAborted(signal);
    const request =
      params === undefined || this.hook === undefined
        ? asked
        : { ...asked, model: this.hook.upstreamModel(asked.model, params) };
    // One signal for the upstream request: the idle timer's, which the caller's signal and an
    // early stop also fire (a listener costs less per request than AbortSignal.any).
    const idle = new IdleTimer(this.timeoutMs);
    const onAbort = () => idle.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    const upstreamSignal = idle.signal;
    const span = upstreamSpan(trace, request.messages === undefined ? 'completions' : 'chat');
    const ending: Ending = { finish: undefined, usage: undefined };
    let text = '';
    let failure: unknown;
    let finished = false;
    try {
      const upstream = { signal: upstreamSignal, ...headers(span) };
      if (whole === true) {
        // A whole answer is waited for under the request's deadline alone (see answer()).
        idle.stop();
        for await (const delta of this.answer(request, upstream, ending)) {
          text += delta.text;
          yield delta;
        }
      } else {
        // Chunks are read a body read at a time and yielded from here: one generator hop
        // per token rather than two.
        const res = await this.open(request, upstream);
        const read = request.messages !== undefined ? chatDelta : completionDelta;
        for await (const chunks of sseChunks(res)) {
          for (const chunk of chunks) {
            const delta = read(chunk, ending);
            if (delta === undefined) continue;
            text += delta.text;
            idle.pause();
            yield delta;
            idle.restart();
          }
        }
      }
      if (signal.aborted) throw abortError(signal);
      if (idle.timedOut) throw toUpstreamError(undefined, this.failure(signal, idle));
      if (ending.finish === undefined) {
        throw new UpstreamError('upstream stream ended without finishing');
      }
      finished = true;
    } catch (err) {
      failure = toUpstreamError(err, this.failure(signal, idle));
      throw failure;
    } finally {
      idle.stop();
      signal.removeEventListener('abort', onAbort);
      // The caller stopped reading early, or it failed: the upstream connection is let go.
      if (!finished) idle.cancel();
      span?.end(failure);
    }
    return { finish_reason: ending.finish, usage: this.usage(request, text, ending.usage) };
  }

  async embed(
    request: EmbeddingRequest,
    { signal, trace }: GenerateOptions,
  ): Promise<EmbeddingResult> {
    throwIfAborted(signal);
    const idle = new IdleTimer(this.timeoutMs);
    const span = upstreamSpan(trace, 'embeddings');
    let failure: unknown;
    try {
      const body = { ...request, encoding_format: request.encoding_format ?? 'float' };
      const res = await this.client.embeddings.create(body, {
        signal: AbortSignal.any([signal, idle.signal]),
        ...headers(span),
      });
      return {
        model: res.model || request.model,
        data: res.data.map((d) => ({ index: d.index, embedding: d.embedding })),
        usage: {
          prompt_tokens: res.usage?.prompt_tokens ?? 0,
          total_tokens: res.usage?.total_tokens ?? 0,
        },
      };
    } catch (err) {
      failure = toUpstreamError(err, this.failure(signal, idle));
      throw failure;
    } finally {
      idle.stop();
      span?.end(failure);
    }
  }

  async close(): Promise<void> {
    this.http.close();
  }

  private failure(signal: AbortSignal, idle: IdleTimer) {
    return { signal, timedOut: idle.timedOut, timeoutMs: this.timeoutMs };
  }

  /** Asks the upstream for a streamed answer; resolves with the response, its body unread. */
  private open(request: InferenceRequest, options: UpstreamOptions): Promise<IncomingMessage> {
    if (request.messages !== undefined) {
      const body = chatBody(request, request.messages, this.continuation, this.streamUsage);
      return this.http.post('/chat/completions', body, options);
    }
    return this.http.post('/completions', completionBody(request, this.streamUsage), options);
  }

  /**
   * The upstream's whole answer (the client did not ask for a stream), as one delta. Nothing
   * comes until the upstream has generated all of it, so the wait is bounded by the request's
   * deadline rather than by `timeoutMs`, and an empty delta goes out every KEEPALIVE_MS
   * meanwhile: the gateway counts a worker that sends nothing for 30 s as lost.
   */
  private async *answer(
    request: InferenceRequest,
    options: UpstreamOptions,
    ending: Ending,
  ): AsyncGenerator<TokenDelta> {
    const chat = request.messages !== undefined;
    const pending = (
      chat
        ? this.http.post(
            '/chat/completions',
            wholeBody(chatBody(request, request.messages!, this.continuation, false)),
            options,
          )
        : this.http.post('/completions', wholeBody(completionBody(request, false)), options)
    )
      .then(readAll)
      .then((text) => JSON.parse(text) as unknown);
    let answer: unknown = NOT_YET;
    const settled = pending.then((a) => {
      answer = a;
    });
    // Handled below; without this a rejection while a keep-alive is out would be unhandled.
    settled.catch(() => {});
    while (answer === NOT_YET) {
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, KEEPALIVE_MS);
      });
      try {
        await Promise.race([settled, tick]);
      } finally {
        clearTimeout(timer);
      }
      if (answer === NOT_YET) yield { text: '' };
    }
    if (typeof answer !== 'object' || answer === null) {
      throw new UpstreamError('upstream answered with something other than a JSON object');
    }
    const delta = (chat ? chatAnswer : completionAnswer)(answer as Record<string, unknown>, ending);
    if (delta !== undefined) yield delta;
  }

  /**
   * The upstream's counts when it sent them, else estimates at four characters per token.
   * completion_tokens covers the whole answer, so text continued from another worker is
   * added (estimated: that worker's count is not known here).
   */
  private usage(
    request: InferenceRequest,
    text: string,
    upstream: OpenAI.CompletionUsage | undefined,
  ): Usage {
    const earlier = Math.ceil((request.continue_from ?? '').length / 4);
    const prompt = upstream?.prompt_tokens ?? Math.ceil(promptText(request).length / 4);
    const completion = (upstream?.completion_tokens ?? Math.ceil(text.length / 4)) + earlier;
    const usage: Usage = {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
    };
    const cached = upstream?.prompt_tokens_details?.cached_tokens;
    if (typeof cached === 'number') usage.cached_tokens = cached;
    return usage;
  }
}

interface UpstreamOptions {
  signal: AbortSignal;
  headers?: Record<string, string>;
}

/** Between two empty deltas while a whole answer is being generated upstream. */
const KEEPALIVE_MS = 10_000;
const NOT_YET = Symbol('not yet');

/** The upstream call's span, under the worker's, when the worker passed its trace. */
function upstreamSpan(trace: GenerateOptions['trace'], operation: string): TraceSpan | undefined {
  if (trace === undefined) return undefined;
  return TraceSpan.start(trace.tracer, `upstream ${operation}`, trace.context, SpanKind.CLIENT, {
    'gen_ai.operation.name': operation,
  });
}

/** W3C trace headers for the upstream request, so the model server joins the trace. */
function headers(span: TraceSpan | undefined): { headers?: Record<string, string> } {
  if (span === undefined) return {};
  return { headers: traceFields(span.context) };
}

/**
 * Aborts when nothing arrives for `ms`; paused while the consumer holds a chunk. One timer per
 * request, re-armed only when it fires, so a token costs a clock read rather than a new timer.
 */
class IdleTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private last = Date.now();
  private paused = false;
  timedOut = false;

  constructor(private readonly ms: number) {
    this.arm(ms);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.check(), ms);
  }

  private check(): void {
    if (this.paused) return this.arm(this.ms);
    const left = this.last + this.ms - Date.now();
    if (left > 0) return this.arm(left);
    this.timedOut = true;
    this.controller.abort();
  }

  restart(): void {
    this.last = Date.now();
    this.paused = false;
  }

  pause(): void {
    this.paused = true;
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** Fires the signal for another reason than idleness. */
  cancel(): void {
    clearTimeout(this.timer);
    this.controller.abort();
  }
}

/** Makes the backend; call `init()` before use when `models` is not configured. */
export function createOpenAIBackend(options: OpenAIBackendOptions): OpenAIBackend {
  return new OpenAIBackend(options);
}
