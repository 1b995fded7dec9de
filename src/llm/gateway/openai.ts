// The OpenAI HTTP shapes: request bodies in (checked against the protocol's schemas, with the
// bad field named), and chat.completion, chat.completion.chunk, text_completion and embedding
// objects out, field for field as OpenAI sends them.
import {
  InvalidMessageError,
  KIND_SCHEMAS,
  validateBody,
  WireError,
  type EmbeddingRequest,
  type Envelope,
  type FinishReason,
  type InferenceRequest,
  type InferenceResult,
  type Usage,
} from '../../protocol/index.js';
import type { TokenDelta } from '../backends/backend.js';
import type { AnswerStream, ApiFace } from './face.js';
import { errorJson } from './http.js';
import { paramOf } from './body.js';
import { checkFieldLimits } from './fields.js';
import type { SseWriter } from './sse.js';

const KNOWN_FIELDS = {
  'inference.request': new Set(Object.keys(KIND_SCHEMAS['inference.request'].properties)),
  'embedding.request': new Set(Object.keys(KIND_SCHEMAS['embedding.request'].properties)),
};

/**
 * Checks a body against a kind's schema, and the depth and size limits of fields.ts on what the
 * schema leaves open; InvalidMessageError names the field (`param`).
 */
export function parseBody<T>(kind: 'inference.request' | 'embedding.request', body: unknown): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidMessageError('request body must be a JSON object');
  }
  checkFieldLimits(body as Record<string, unknown>, KNOWN_FIELDS[kind]);
  try {
    validateBody({ kind, body } as Envelope);
  } catch (err) {
    if (err instanceof WireError && typeof err.details?.path === 'string') {
      const param = paramOf(err.details.path);
      throw new InvalidMessageError(
        err.message.replace(/^invalid [a-z.]+ body/, 'invalid request'),
        {
          details: { param },
        },
      );
    }
    throw err;
  }
  return body as T;
}

export function parseChat(body: unknown): InferenceRequest {
  const request = parseBody<InferenceRequest>('inference.request', body);
  if (request.messages === undefined) {
    throw new InvalidMessageError("'messages' is required", { details: { param: 'messages' } });
  }
  checkCommon(request);
  return request;
}

export function parseCompletion(body: unknown): InferenceRequest {
  const request = parseBody<InferenceRequest>('inference.request', body);
  if (request.prompt === undefined) {
    throw new InvalidMessageError("'prompt' is required", { details: { param: 'prompt' } });
  }
  if (request.messages !== undefined) {
    throw new InvalidMessageError("'messages' belongs to /v1/chat/completions", {
      details: { param: 'messages' },
    });
  }
  checkCommon(request);
  return request;
}

export function parseEmbedding(body: unknown): EmbeddingRequest {
  return parseBody<EmbeddingRequest>('embedding.request', body);
}

function checkCommon(request: InferenceRequest): void {
  if (request.n !== undefined && request.n !== null && request.n !== 1) {
    throw new InvalidMessageError('n > 1 is not supported; send separate requests', {
      details: { param: 'n' },
    });
  }
  if (request.continue_from !== undefined) {
    throw new InvalidMessageError("'continue_from' is internal to llmwire", {
      details: { param: 'continue_from' },
    });
  }
}

/** Serializes stream chunks with the fixed parts of the JSON built once per stream. */
export class ChunkFormatter {
  private readonly head: string;
  constructor(
    readonly id: string,
    readonly created: number,
    readonly model: string,
    private readonly object: 'chat.completion.chunk' | 'text_completion',
    private readonly usageNull: boolean,
  ) {
    this.head = `{"id":${JSON.stringify(id)},"object":"${object}","created":${created},"model":${JSON.stringify(model)},"system_fingerprint":null,"choices":[`;
  }

  private tail(): string {
    return this.usageNull ? '],"usage":null}' : ']}';
  }

  /** The first chat chunk: the assistant role with empty content. */
  role(): string {
    return `${this.head}{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}${this.tail()}`;
  }

  delta(delta: TokenDelta): string {
    const { text } = delta;
    if (this.object === 'text_completion') {
      return `${this.head}{"index":0,"text":${JSON.stringify(text)},"logprobs":null,"finish_reason":null}${this.tail()}`;
    }
    let extra = '';
    if (delta.tool_calls !== undefined)
      extra += `,"tool_calls":${JSON.stringify(delta.tool_calls)}`;
    // Chat completions has no reasoning field; vLLM's `reasoning_content` is what clients read.
    if (delta.reasoning !== undefined) {
      extra += `,"reasoning_content":${JSON.stringify(delta.reasoning)}`;
    }
    if (delta.refusal !== undefined) extra += `,"refusal":${JSON.stringify(delta.refusal)}`;
    return `${this.head}{"index":0,"delta":{"content":${JSON.stringify(text)}${extra}},"logprobs":null,"finish_reason":null}${this.tail()}`;
  }

  finish(reason: FinishReason): string {
    if (this.object === 'text_completion') {
      return `${this.head}{"index":0,"text":"","logprobs":null,"finish_reason":"${reason}"}${this.tail()}`;
    }
    return `${this.head}{"index":0,"delta":{},"logprobs":null,"finish_reason":"${reason}"}${this.tail()}`;
  }

  usage(usage: Usage): string {
    return `${this.head}],"usage":${JSON.stringify(openaiUsage(usage))}}`;
  }
}

export function openaiUsage(usage: Usage): Record<string, unknown> {
  const out: Record<string, unknown> = {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: usage.completion_tokens,
    total_tokens: usage.total_tokens,
  };
  if (usage.cached_tokens !== undefined)
    out.prompt_tokens_details = { cached_tokens: usage.cached_tokens };
  if (usage.reasoning_tokens !== undefined) {
    out.completion_tokens_details = { reasoning_tokens: usage.reasoning_tokens };
  }
  return out;
}

export function chatCompletion(
  id: string,
  created: number,
  result: InferenceResult,
): Record<string, unknown> {
  const calls = result.tool_calls !== undefined && result.tool_calls.length > 0;
  const message: Record<string, unknown> = {
    role: 'assistant',
    // OpenAI sends null content beside tool calls when the model wrote no text.
    content: calls && result.text === '' ? null : result.text,
    refusal: result.refusal ?? null,
  };
  if (result.tool_calls !== undefined) message.tool_calls = result.tool_calls;
  if (result.reasoning !== undefined) message.reasoning_content = result.reasoning;
  return {
    id,
    object: 'chat.completion',
    created,
    model: result.model,
    system_fingerprint: null,
    choices: [{ index: 0, message, logprobs: null, finish_reason: result.finish_reason }],
    usage: openaiUsage(result.usage),
  };
}

export function textCompletion(
  id: string,
  created: number,
  result: InferenceResult,
): Record<string, unknown> {
  return {
    id,
    object: 'text_completion',
    created,
    model: result.model,
    system_fingerprint: null,
    choices: [{ index: 0, text: result.text, logprobs: null, finish_reason: result.finish_reason }],
    usage: openaiUsage(result.usage),
  };
}

/** `/v1/chat/completions` and `/v1/completions` as API faces. */
export function openaiFace(
  shape: 'chat' | 'completion',
  id: string,
  request: InferenceRequest,
): ApiFace {
  const created = Math.floor(Date.now() / 1000);
  return {
    whole: async (result) =>
      shape === 'chat' ? chatCompletion(id, created, result) : textCompletion(id, created, result),
    stream: (sse) => new OpenAIStream(sse, shape, id, created, request),
  };
}

class OpenAIStream implements AnswerStream {
  private readonly format: ChunkFormatter;
  private readonly includeUsage: boolean;

  constructor(
    private readonly sse: SseWriter,
    private readonly shape: 'chat' | 'completion',
    id: string,
    created: number,
    request: InferenceRequest,
  ) {
    this.includeUsage = request.stream_options?.include_usage === true;
    this.format = new ChunkFormatter(
      id,
      created,
      request.model,
      shape === 'chat' ? 'chat.completion.chunk' : 'text_completion',
      this.includeUsage,
    );
  }

  async start(): Promise<void> {
    if (this.shape === 'chat') await this.sse.data(this.format.role());
  }

  delta(delta: TokenDelta): Promise<void> {
    return this.sse.data(this.format.delta(delta));
  }

  async finish(result: InferenceResult): Promise<void> {
    await this.sse.data(this.format.finish(result.finish_reason));
    if (this.includeUsage) await this.sse.data(this.format.usage(result.usage));
    this.sse.done();
  }

  fail(error: WireError): Promise<void> {
    return this.sse.error(JSON.stringify(errorJson(error)));
  }
}
