// What the upstream sends, read into llmwire's shapes: a streamed chunk of either API into a token
// delta, a whole chat or completion answer into one delta, and the end of either.
import type OpenAI from 'openai';
import type { FinishReason, ToolCallDelta } from '../../../protocol/index.js';
import type { TokenDelta } from '../backend.js';

/** How the upstream's answer ended, as far as it said: filled in chunk by chunk. */
export interface Ending {
  finish: FinishReason | undefined;
  usage: OpenAI.CompletionUsage | undefined;
}

type Json = Record<string, unknown>;

/** Choice 0 of a chunk or answer (servers may send other choices' chunks; they are not asked for). */
function firstChoice(body: Json): Json | undefined {
  const choices = body['choices'];
  if (!Array.isArray(choices)) return undefined;
  for (const c of choices as Json[]) if (c?.['index'] === 0) return c;
  return undefined;
}

function noteEnd(body: Json, choice: Json | undefined, ending: Ending): void {
  const usage = body['usage'];
  if (typeof usage === 'object' && usage !== null) ending.usage = usage as OpenAI.CompletionUsage;
  const finish = choice?.['finish_reason'];
  if (typeof finish === 'string') ending.finish = finishReason(finish);
}

/** Reasoning text is not in OpenAI's chat API; vLLM and others send it as below. */
function reasoningOf(m: Json): string | undefined {
  const r = m['reasoning_content'] ?? m['reasoning'];
  return typeof r === 'string' && r !== '' ? r : undefined;
}

/** A streamed chat chunk's delta, or undefined when it carries nothing to send on. */
export function chatDelta(chunk: Json, ending: Ending): TokenDelta | undefined {
  const choice = firstChoice(chunk);
  noteEnd(chunk, choice, ending);
  const d = choice?.['delta'] as Json | undefined;
  if (d === undefined || d === null) return undefined;
  const content = d['content'];
  const text = typeof content === 'string' ? content : '';
  const calls = d['tool_calls'] as ToolCallDelta[] | undefined | null;
  const reasoning = reasoningOf(d);
  const refusal = d['refusal'];
  const hasCalls = Array.isArray(calls) && calls.length > 0;
  const hasRefusal = typeof refusal === 'string' && refusal !== '';
  if (text === '' && !hasCalls && reasoning === undefined && !hasRefusal) return undefined;
  const delta: TokenDelta = { text };
  if (hasCalls) delta.tool_calls = calls;
  if (reasoning !== undefined) delta.reasoning = reasoning;
  if (hasRefusal) delta.refusal = refusal;
  return delta;
}

/** A streamed completions chunk's text, or undefined when it has none. */
export function completionDelta(chunk: Json, ending: Ending): TokenDelta | undefined {
  const choice = firstChoice(chunk);
  noteEnd(chunk, choice, ending);
  const text = choice?.['text'];
  return typeof text === 'string' && text !== '' ? { text } : undefined;
}

/** A whole chat answer as one delta (tool calls in delta form, indexed in order). */
export function chatAnswer(answer: Json, ending: Ending): TokenDelta | undefined {
  const choice = firstChoice(answer);
  noteEnd(answer, choice, ending);
  const m = choice?.['message'] as Json | undefined;
  if (m === undefined || m === null) return undefined;
  const content = m['content'];
  const delta: TokenDelta = { text: typeof content === 'string' ? content : '' };
  const calls = m['tool_calls'];
  if (Array.isArray(calls) && calls.length > 0) {
    delta.tool_calls = (calls as OpenAI.ChatCompletionMessageFunctionToolCall[]).map(
      (c, index) => ({
        index,
        id: c.id,
        type: 'function' as const,
        function: { name: c.function?.name ?? '', arguments: c.function?.arguments ?? '' },
      }),
    );
  }
  const reasoning = reasoningOf(m);
  if (reasoning !== undefined) delta.reasoning = reasoning;
  const refusal = m['refusal'];
  if (typeof refusal === 'string' && refusal !== '') delta.refusal = refusal;
  return delta.text === '' && Object.keys(delta).length === 1 ? undefined : delta;
}

/** A whole completions answer as one delta. */
export function completionAnswer(answer: Json, ending: Ending): TokenDelta | undefined {
  return completionDelta(answer, ending);
}

export function finishReason(value: string): FinishReason {
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
