// The sim's answers other than free text: tool calls (tools, tool_choice, parallel_tool_calls)
// and JSON (response_format), each drawn from the request's schemas by a seeded generator and
// streamed in small pieces as OpenAI streams them (docs/backends.md, "sim").
import {
  InvalidMessageError,
  type InferenceRequest,
  type ToolCall,
} from '../../../protocol/index.js';
import type { TokenDelta } from '../backend.js';
import { type Tool, toolUse } from '../tool-choice.js';
import { SeededRandom } from './random.js';
import { schemaValue } from './schema-value.js';

/** Characters of arguments or JSON text per streamed piece: one sim token. */
const PIECE_CHARS = 4;

export interface OutputEnd {
  finish: 'stop' | 'tool_calls';
  tokens: number;
}

export interface PlannedCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * The tool calls the sim makes for a request, or undefined for a text answer. Throws
 * InvalidMessageError for a tool_choice it cannot honour.
 */
export function planToolCalls(
  request: InferenceRequest,
  random: SeededRandom,
): PlannedCall[] | undefined {
  const use = toolUse(request);
  if (use.mode === 'none') return undefined;
  let chosen = use.mode === 'auto' ? mentioned(request, use.tools) : use.tools;
  if (chosen.length === 0) return undefined;
  if (request.parallel_tool_calls !== true) chosen = chosen.slice(0, 1);
  return chosen.map((tool) => ({
    id: `call_${random.uint32().toString(16).padStart(8, '0')}${random.uint32().toString(16).padStart(8, '0')}`,
    name: tool.function.name,
    arguments: JSON.stringify(
      schemaValue(tool.function.parameters ?? { type: 'object' }, random) ?? {},
    ),
  }));
}

/** The JSON text response_format asks for, or undefined when it asks for none. */
export function planJson(request: InferenceRequest, random: SeededRandom): string | undefined {
  const format = request.response_format;
  if (format === undefined || format.type === 'text') return undefined;
  const schema =
    format.type === 'json_schema' && format.json_schema.schema !== undefined
      ? format.json_schema.schema
      : { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] };
  return JSON.stringify(schemaValue(schema, random));
}

/**
 * Streams tool calls: per call, a delta with id, type and name, then argument pieces. `sent`
 * holds the calls an earlier attempt already streamed (failover): they must be the beginning
 * of these, and only what follows them is yielded.
 */
export function* toolCallSteps(
  calls: readonly PlannedCall[],
  sent: readonly ToolCall[] = [],
): Generator<TokenDelta, OutputEnd> {
  let tokens = 0;
  for (const [index, call] of calls.entries()) {
    const before = sent[index];
    if (
      before !== undefined &&
      (before.id !== call.id ||
        before.function.name !== call.name ||
        !call.arguments.startsWith(before.function.arguments))
    ) {
      throw new InvalidMessageError(
        `continue_tool_calls[${index}] is not the beginning of the call this model makes to this request`,
      );
    }
    if (before === undefined) {
      const head = { index, id: call.id, type: 'function' as const };
      yield { text: '', tool_calls: [{ ...head, function: { name: call.name, arguments: '' } }] };
    }
    tokens++;
    const from = before?.function.arguments.length ?? 0;
    for (const piece of pieces(call.arguments.slice(from))) {
      yield { text: '', tool_calls: [{ index, function: { arguments: piece } }] };
    }
    tokens += pieces(call.arguments).length;
  }
  if (sent.length > calls.length) {
    throw new InvalidMessageError('continue_tool_calls holds more calls than this answer makes');
  }
  return { finish: 'tool_calls', tokens };
}

/** Streams fixed text after `continueFrom`, which must be a prefix of it. */
export function* fixedTextSteps(
  text: string,
  continueFrom: string,
): Generator<TokenDelta, OutputEnd> {
  if (!text.startsWith(continueFrom)) {
    throw new InvalidMessageError(
      'continue_from is not a prefix of the answer this model gives to this request',
    );
  }
  const all = pieces(text);
  let at = 0;
  for (const piece of all) {
    const end = at + piece.length;
    if (end > continueFrom.length)
      yield { text: piece.slice(Math.max(0, continueFrom.length - at)) };
    at = end;
  }
  return { finish: 'stop', tokens: all.length };
}

/** Reasoning words the sim thinks before answering, per reasoning effort. */
const REASONING_TOKENS = { low: 12, medium: 24, high: 48 } as const;

/** How many reasoning tokens the request asks for (0: none). */
export function reasoningTokens(request: InferenceRequest): number {
  const effort = request.reasoning_effort;
  return effort === undefined || effort === null || effort === 'minimal'
    ? 0
    : REASONING_TOKENS[effort];
}

function pieces(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += PIECE_CHARS) out.push(text.slice(i, i + PIECE_CHARS));
  return out;
}

/** The tools the last message names, when it is from the user; in the order of `tools`. */
function mentioned(request: InferenceRequest, tools: readonly Tool[]): Tool[] {
  const last = request.messages?.at(-1);
  if (last?.role !== 'user') return [];
  const content =
    typeof last.content === 'string'
      ? last.content
      : (last.content ?? []).map((p) => (p.type === 'text' ? p.text : '')).join(' ');
  const text = content.toLowerCase();
  return tools.filter((t) => text.includes(t.function.name.toLowerCase()));
}
