// Upstream request bodies: the client's fields pass through unchanged (vLLM and others accept
// extensions), except llmwire's own `continue_from`, which becomes part of the prompt.
import type { ChatMessage, InferenceRequest } from '../../../protocol/index.js';
import { InvalidMessageError } from '../../../protocol/index.js';

/**
 * How a chat answer is continued after failover:
 * - 'instruct' (any OpenAI-compatible server): the text so far becomes an assistant message
 *   followed by a user message asking the model to go on. Best-effort: a real model may repeat
 *   or rephrase a little at the seam.
 * - 'final-message' (vLLM): the assistant message is left open and the server is told to
 *   continue it (`continue_final_message`), which is exact up to tokenisation at the seam.
 */
export type ContinuationMode = 'instruct' | 'final-message';

export const CONTINUE_INSTRUCTION =
  'Continue your previous answer exactly where it stopped. Do not repeat any of it and do not add anything before it.';

type Body = Record<string, unknown>;

function passThrough(request: InferenceRequest, includeUsage: boolean): Body {
  if ((request.n ?? 1) > 1) {
    throw new InvalidMessageError('n > 1 is not supported: a backend streams one choice');
  }
  if ((request.continue_reasoning ?? '') !== '' || (request.continue_tool_calls ?? []).length > 0) {
    // An upstream continues text (below), not reasoning or a half-sent tool call.
    throw new InvalidMessageError(
      'an OpenAI-compatible upstream cannot continue reasoning or tool calls begun by another worker',
    );
  }
  // Fields llmwire sets itself; everything else is the client's and goes upstream as is.
  const {
    continue_from: _continueFrom,
    continue_reasoning: _continueReasoning,
    continue_tool_calls: _continueToolCalls,
    stream: _stream,
    stream_options: _streamOptions,
    ...rest
  } = request;
  const body: Body = { ...rest, stream: true };
  // Reasoning kept in history is llmwire's; OpenAI's chat messages have no such field.
  if (rest.messages?.some((m) => m.reasoning !== undefined)) {
    body['messages'] = rest.messages.map(({ reasoning: _reasoning, ...m }) => m);
  }
  if (includeUsage) body['stream_options'] = { include_usage: true };
  return body;
}

export function chatBody(
  request: InferenceRequest,
  messages: readonly ChatMessage[],
  mode: ContinuationMode,
  includeUsage: boolean,
): Body {
  const body = passThrough(request, includeUsage);
  const sent = request.continue_from;
  if (sent === undefined || sent === '') return body;
  const history = (body['messages'] as ChatMessage[] | undefined) ?? messages;
  const continued: ChatMessage[] = [...history, { role: 'assistant', content: sent }];
  if (mode === 'final-message') {
    body['continue_final_message'] = true;
    body['add_generation_prompt'] = false;
  } else {
    continued.push({ role: 'user', content: CONTINUE_INSTRUCTION });
  }
  body['messages'] = continued;
  return body;
}

export function completionBody(request: InferenceRequest, includeUsage: boolean): Body {
  const body = passThrough(request, includeUsage);
  const prompt = request.prompt ?? '';
  if (Array.isArray(prompt) && prompt.length > 1) {
    throw new InvalidMessageError(
      'several prompts in one request are not supported: a backend streams one choice',
    );
  }
  const text = Array.isArray(prompt) ? (prompt[0] ?? '') : prompt;
  // A plain completion continues exactly: the text so far is just more prompt.
  body['prompt'] = text + (request.continue_from ?? '');
  return body;
}

/** A streaming body (above) as a request for the whole answer at once. */
export function wholeBody(body: Body): Body {
  const { stream_options: _streamOptions, ...rest } = body;
  return { ...rest, stream: false };
}
