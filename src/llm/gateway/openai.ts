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
import { checkFieldLimits } from './fields.js';

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
      const param = err.details.path.replace(/^\//, '').replace(/\//g, '.') || null;
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

  delta(text: string, toolCalls?: unknown[]): string {
    if (this.object === 'text_completion') {
      return `${this.head}{"index":0,"text":${JSON.stringify(text)},"logprobs":null,"finish_reason":null}${this.tail()}`;
    }
    const tools = toolCalls === undefined ? '' : `,"tool_calls":${JSON.stringify(toolCalls)}`;
    return `${this.head}{"index":0,"delta":{"content":${JSON.stringify(text)}${tools}},"logprobs":null,"finish_reason":null}${this.tail()}`;
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
    refusal: null,
  };
  if (result.tool_calls !== undefined) message.tool_calls = result.tool_calls;
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
