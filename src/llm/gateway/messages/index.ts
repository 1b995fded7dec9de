// The Anthropic Messages API as an API face (docs/llm.md, "Anthropic Messages"): message
// objects and stream events out, Anthropic's error JSON, the headers its clients send, and
// count_tokens from the gateway's own estimate.
import { InvalidMessageError, type InferenceRequest } from '../../../protocol/index.js';
import { estimateTokens } from '../../routing/index.js';
import type { ApiFace } from '../face.js';
import type { Middleware } from '../http.js';
import { messageJson } from './format.js';
import { MessagesStream } from './stream.js';

export { anthropicError, ANTHROPIC_ERROR_TYPES, type AnthropicErrorType } from './format.js';
export { parseCountTokens, parseMessages } from './parse.js';

const VERSION = /^\d{4}-\d{2}-\d{2}$/;

/**
 * What Anthropic clients send and read: a `request-id` header on every answer, and an
 * `anthropic-version` header (YYYY-MM-DD) that may be absent; `anthropic-beta` is ignored.
 */
export const anthropicHeaders: Middleware = async (ctx, next) => {
  ctx.res.setHeader('request-id', ctx.requestId);
  const version = ctx.req.headers['anthropic-version'];
  if (version !== undefined && (typeof version !== 'string' || !VERSION.test(version))) {
    throw new InvalidMessageError('anthropic-version must be a date, YYYY-MM-DD', {
      details: { param: 'anthropic-version' },
    });
  }
  await next();
};

/** The prompt's tokens by the gateway's estimate (routing/estimate.ts), without the answer. */
export function inputTokens(request: InferenceRequest): number {
  return estimateTokens(
    { ...request, max_tokens: null, max_completion_tokens: null },
    { defaultMaxTokens: 0 },
  );
}

/** `/v1/messages` as an API face. */
export function messagesFace(id: string, request: InferenceRequest): ApiFace {
  return {
    whole: async (result) => messageJson(id, request.model, result),
    stream: (sse) => new MessagesStream(sse, id, request.model, inputTokens(request)),
  };
}
