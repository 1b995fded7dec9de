// The OpenAI-compatible backend: relays requests to any server that speaks the OpenAI HTTP API
// (vLLM, llama.cpp server, Ollama, OpenAI) with the official SDK, streaming the answer back.
// The caller's AbortSignal reaches the HTTP request, so a cancelled client frees the upstream.
import OpenAI from 'openai';
import type {
  ToolCallDelta,
  EmbeddingRequest,
  EmbeddingResult,
  FinishReason,
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
import { type ContinuationMode, chatBody, completionBody } from './request.js';

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

/** One normalised streamed chunk of either API. */
interface Piece {
  text: string;
  toolCalls: ToolCallDelta[] | undefined;
  reasoning?: string | undefined;
  refusal?: string | undefined;
  finish: string | null | undefined;
  usage: OpenAI.CompletionUsage | null | undefined;
}

export class OpenAIBackend implements Backend {
  readonly kind = 'openai';
  private readonly client: OpenAI;
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
    { signal, trace, params }: GenerateOptions,
  ): AsyncGenerator<TokenDelta, GenerateEnd> {
    throwIfAborted(signal);
    const request =
      params === undefined || this.hook === undefined
        ? asked
        : { ...asked, model: this.hook.upstreamModel(asked.model, params) };
    const idle = new IdleTimer(this.timeoutMs);
    const upstreamSignal = AbortSignal.any([signal, idle.signal]);
    const span = upstreamSpan(trace, request.messages === undefined ? 'completions' : 'chat');
    let text = '';
    let finish: FinishReason | undefined;
    let usage: OpenAI.CompletionUsage | undefined;
    let failure: unknown;
    try {
      for await (const piece of this.stream(request, {
        signal: upstreamSignal,
        ...headers(span),
      })) {
        idle.pause();
        if (piece.usage) usage = piece.usage;
        if (typeof piece.finish === 'string') finish = finishReason(piece.finish);
        const delta: TokenDelta = { text: piece.text };
        if (piece.toolCalls !== undefined && piece.toolCalls.length > 0) {
          delta.tool_calls = piece.toolCalls;
        }
        if (piece.reasoning) delta.reasoning = piece.reasoning;
        if (piece.refusal) delta.refusal = piece.refusal;
        if (piece.text !== '' || Object.keys(delta).length > 1) {
          text += piece.text;
          yield delta;
        }
        idle.restart();
      }
      // The SDK ends a stream quietly when its signal fires; say why it ended.
      if (signal.aborted) throw abortError(signal);
      if (idle.timedOut) throw toUpstreamError(undefined, this.failure(signal, idle));
      if (finish === undefined) throw new UpstreamError('upstream stream ended without finishing');
    } catch (err) {
      failure = toUpstreamError(err, this.failure(signal, idle));
      throw failure;
    } finally {
      idle.pause();
      span?.end(failure);
    }
    return { finish_reason: finish, usage: this.usage(request, text, usage) };
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
      idle.pause();
      span?.end(failure);
    }
  }

  async close(): Promise<void> {}

  private failure(signal: AbortSignal, idle: IdleTimer) {
    return { signal, timedOut: idle.timedOut, timeoutMs: this.timeoutMs };
  }

  private async *stream(
    request: InferenceRequest,
    options: UpstreamOptions,
  ): AsyncGenerator<Piece> {
    if (request.messages !== undefined) {
      const body = chatBody(request, request.messages, this.continuation, this.streamUsage);
      const stream = await this.client.chat.completions.create(
        body as unknown as OpenAI.ChatCompletionCreateParamsStreaming,
        options,
      );
      for await (const chunk of stream) {
        const choice = (chunk.choices ?? []).find((c) => c.index === 0);
        // Reasoning text is not in OpenAI's chat stream; vLLM and others send it as below.
        const extra = choice?.delta as { reasoning_content?: unknown; reasoning?: unknown };
        const reasoning = extra?.reasoning_content ?? extra?.reasoning;
        yield {
          text: choice?.delta?.content ?? '',
          toolCalls: choice?.delta?.tool_calls,
          reasoning: typeof reasoning === 'string' ? reasoning : undefined,
          refusal: choice?.delta?.refusal ?? undefined,
          finish: choice?.finish_reason,
          usage: chunk.usage,
        };
      }
      return;
    }
    const body = completionBody(request, this.streamUsage);
    const stream = await this.client.completions.create(
      body as unknown as OpenAI.CompletionCreateParamsStreaming,
      options,
    );
    for await (const chunk of stream) {
      const choice = (chunk.choices ?? []).find((c) => c.index === 0);
      yield {
        text: choice?.text ?? '',
        toolCalls: undefined,
        finish: choice?.finish_reason,
        usage: chunk.usage,
      };
    }
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

/** Aborts when nothing arrives for `ms`; paused while the consumer holds a chunk. */
class IdleTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  timedOut = false;

  constructor(private readonly ms: number) {
    this.restart();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  restart(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, this.ms);
  }

  pause(): void {
    clearTimeout(this.timer);
  }
}

function finishReason(value: string): FinishReason {
  switch (value) {
    case 'length':
    case 'tool_calls':
    case 'content_filter':
    case 'stop':
      return value;
    case 'function_call':
      return 'tool_calls';
    default:
      // Servers have their own words for a natural end ('eos', 'end_turn', ...).
      return 'stop';
  }
}

/** Makes the backend; call `init()` before use when `models` is not configured. */
export function createOpenAIBackend(options: OpenAIBackendOptions): OpenAIBackend {
  return new OpenAIBackend(options);
}
