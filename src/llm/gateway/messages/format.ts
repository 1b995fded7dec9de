// Anthropic Messages JSON out: message objects, usage, stop reasons and the error body, from
// the protocol's result and error codes (docs/llm.md, "Anthropic Messages").
import { createHash } from 'node:crypto';
import type { ErrorCode, InferenceResult, Usage, WireError } from '../../../protocol/index.js';

/** Anthropic's error types (docs.anthropic.com, "Errors"). */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

/**
 * Each protocol error code's Anthropic type; the HTTP status stays the protocol's. A full queue
 * (`overloaded`) and no ready worker are Anthropic's overloaded_error; a lost worker or a
 * failed upstream is an api_error.
 */
export const ANTHROPIC_ERROR_TYPES: Record<ErrorCode, AnthropicErrorType> = {
  invalid_message: 'invalid_request_error',
  unsupported_version: 'invalid_request_error',
  unknown_kind: 'invalid_request_error',
  integrity_failed: 'invalid_request_error',
  decrypt_failed: 'invalid_request_error',
  unknown_key: 'authentication_error',
  bad_signature: 'authentication_error',
  replayed: 'invalid_request_error',
  chunk_corrupt: 'invalid_request_error',
  chunk_missing: 'invalid_request_error',
  unauthorized: 'authentication_error',
  forbidden: 'permission_error',
  not_found: 'not_found_error',
  no_route: 'not_found_error',
  payload_too_large: 'request_too_large',
  unsupported_media_type: 'invalid_request_error',
  rate_limited: 'rate_limit_error',
  overloaded: 'overloaded_error',
  cancelled: 'invalid_request_error',
  internal: 'api_error',
  upstream_error: 'api_error',
  no_responders: 'overloaded_error',
  worker_lost: 'api_error',
  unavailable: 'overloaded_error',
  deadline_exceeded: 'timeout_error',
};

export interface AnthropicErrorJson {
  type: 'error';
  error: { type: AnthropicErrorType; message: string };
}

/** Anthropic's error JSON for a WireError (the ErrorShape of the Messages routes). */
export function anthropicError(err: WireError): AnthropicErrorJson {
  return { type: 'error', error: { type: ANTHROPIC_ERROR_TYPES[err.code], message: err.message } };
}

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'refusal';

export function stopReason(result: InferenceResult): StopReason {
  if (result.refusal !== undefined && result.refusal !== '') return 'refusal';
  switch (result.finish_reason) {
    case 'stop':
      return result.stop_sequence === undefined ? 'end_turn' : 'stop_sequence';
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
  }
}

/**
 * Anthropic's usage: `input_tokens` are the prompt tokens not read from the cache, which are
 * `cache_read_input_tokens`; thinking tokens are counted in `output_tokens` and broken out.
 */
export function anthropicUsage(usage: Usage): Record<string, unknown> {
  const cached = usage.cached_tokens;
  const out: Record<string, unknown> = {
    input_tokens: usage.prompt_tokens - (cached ?? 0),
    output_tokens: usage.completion_tokens,
    cache_creation_input_tokens: null,
    cache_read_input_tokens: cached ?? null,
  };
  if (usage.reasoning_tokens !== undefined) {
    out.output_tokens_details = { thinking_tokens: usage.reasoning_tokens };
  }
  return out;
}

/**
 * A thinking block's signature. Anthropic's verify that the thinking came from its model;
 * llmwire's only identify the text (its SHA-256), and are not checked when sent back.
 */
export function signature(thinking: string): string {
  return `llmwire-${createHash('sha256').update(thinking).digest('base64url')}`;
}

/** A tool call's arguments as the `input` object of a tool_use block ({} when not an object). */
export function toolInput(args: string): Record<string, unknown> {
  try {
    const input: unknown = JSON.parse(args);
    if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
      return input as Record<string, unknown>;
    }
  } catch {
    // A model that wrote arguments that are not JSON: the block still has an object.
  }
  return {};
}

/** The message object of a whole answer: thinking, text, then tool_use blocks. */
export function messageJson(
  id: string,
  model: string,
  result: InferenceResult,
): Record<string, unknown> {
  const content: Record<string, unknown>[] = [];
  if (result.reasoning !== undefined && result.reasoning !== '') {
    content.push({
      type: 'thinking',
      thinking: result.reasoning,
      signature: signature(result.reasoning),
    });
  }
  const text = result.text + (result.refusal ?? '');
  if (text !== '') content.push({ type: 'text', text });
  for (const call of result.tool_calls ?? []) {
    content.push({
      type: 'tool_use',
      id: call.id,
      name: call.function.name,
      input: toolInput(call.function.arguments),
    });
  }
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReason(result),
    stop_sequence: result.stop_sequence ?? null,
    usage: anthropicUsage(result.usage),
  };
}
