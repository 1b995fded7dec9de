// Anthropic Messages request bodies -> one `inference.request` (docs/llm.md, "Anthropic
// Messages"). Every field is checked and an error names it by its path in the Anthropic body
// (`messages.2.content.0.source`); fields the API defines that llmwire cannot honour are
// refused rather than ignored, so a client never gets an answer to a question it did not ask.
import type { ChatMessage, InferenceRequest } from '../../../protocol/index.js';
import { checkFieldLimits } from '../fields.js';
import { parseBody } from '../openai.js';
import { parseBlocks, type Blocks } from './content.js';
import { fail, isObject, onlyFields, optional, string } from './check.js';

/** Top-level fields of a Messages body; `stream` and `max_tokens` only for `/v1/messages`. */
const MESSAGE_FIELDS = new Set([
  'model',
  'messages',
  'max_tokens',
  'system',
  'stop_sequences',
  'temperature',
  'top_p',
  'top_k',
  'metadata',
  'tools',
  'tool_choice',
  'thinking',
  'output_config',
  'service_tier',
  'stream',
]);
const COUNT_FIELDS = new Set([
  'model',
  'messages',
  'system',
  'tools',
  'tool_choice',
  'thinking',
  'output_config',
]);
const TOOL_FIELDS = [
  'type',
  'name',
  'description',
  'input_schema',
  'cache_control',
  'strict',
  'eager_input_streaming',
  'input_examples',
  'defer_loading',
  'allowed_callers',
];
/** The protocol's limit on stop sequences (`inference.request` `stop`). */
const MAX_STOP_SEQUENCES = 4;
/** Anthropic's tool name rule; the protocol also caps names at 64 characters. */
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** A `/v1/messages` body as an inference request. */
export function parseMessages(body: unknown): InferenceRequest {
  return parse(body, MESSAGE_FIELDS, true);
}

/** A `/v1/messages/count_tokens` body (no `max_tokens`, no `stream`) as an inference request. */
export function parseCountTokens(body: unknown): InferenceRequest {
  return parse(body, COUNT_FIELDS, false);
}

function parse(body: unknown, known: ReadonlySet<string>, create: boolean): InferenceRequest {
  if (!isObject(body)) fail(null, 'request body must be a JSON object');
  onlyFields(body, '', [...known]);
  checkFieldLimits(body, known);
  const model = string(body.model, 'model');
  if (model === '' || model.length > 256) fail('model', 'model: must be 1 to 256 characters');
  const request: InferenceRequest = { model, messages: [] };
  if (create) {
    if (body.max_tokens === undefined) fail('max_tokens', 'max_tokens: Field required');
    request.max_tokens = positiveInteger(body.max_tokens, 'max_tokens');
    const stream = optional(body.stream, 'stream', 'boolean');
    if (stream !== undefined) request.stream = stream;
  }
  const messages: ChatMessage[] = [];
  if (body.system !== undefined) messages.push(...system(body.system, 'system'));
  if (body.messages === undefined) fail('messages', 'messages: Field required');
  if (!Array.isArray(body.messages)) fail('messages', 'messages: must be an array');
  if (body.messages.length === 0) fail('messages', 'messages: at least one message is required');
  for (const [i, m] of body.messages.entries()) messages.push(...message(m, `messages.${i}`));
  request.messages = messages;
  sampling(body, request);
  if (body.metadata !== undefined) metadata(body.metadata, request);
  if (body.tools !== undefined) request.tools = tools(body.tools);
  if (body.tool_choice !== undefined) toolChoice(body.tool_choice, request);
  // Anthropic uses tools in parallel unless `disable_parallel_tool_use` says otherwise.
  if (request.tools !== undefined && request.tools.length > 0) request.parallel_tool_calls ??= true;
  if (body.thinking !== undefined) thinking(body.thinking, request);
  if (body.output_config !== undefined) outputConfig(body.output_config, request);
  if (body.service_tier !== undefined) {
    const tier = string(body.service_tier, 'service_tier');
    if (tier !== 'auto' && tier !== 'standard_only') {
      fail('service_tier', "service_tier: must be 'auto' or 'standard_only'");
    }
  }
  // The protocol's own check, as for every API: a mapping slip is a 400, never a bad bus message.
  return parseBody<InferenceRequest>('inference.request', request);
}

function positiveInteger(value: unknown, param: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    fail(param, `${param}: must be an integer of at least 1`);
  }
  return value;
}

function numberIn(value: unknown, param: string, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    fail(param, `${param}: must be a number from 0 to ${max}`);
  }
  return value;
}

function sampling(body: Record<string, unknown>, request: InferenceRequest): void {
  if (body.temperature !== undefined)
    request.temperature = numberIn(body.temperature, 'temperature', 1);
  if (body.top_p !== undefined) request.top_p = numberIn(body.top_p, 'top_p', 1);
  if (body.top_k !== undefined) {
    if (typeof body.top_k !== 'number' || !Number.isInteger(body.top_k) || body.top_k < 0) {
      fail('top_k', 'top_k: must be an integer of at least 0');
    }
    // Not a protocol field: kept as an extra field, which OpenAI-compatible backends (vLLM,
    // llama.cpp server) pass on and the others ignore.
    (request as Record<string, unknown>).top_k = body.top_k;
  }
  if (body.stop_sequences !== undefined) {
    const stops = body.stop_sequences;
    if (!Array.isArray(stops))
      fail('stop_sequences', 'stop_sequences: must be an array of strings');
    if (stops.length > MAX_STOP_SEQUENCES) {
      fail(
        'stop_sequences',
        `stop_sequences: llmwire accepts at most ${MAX_STOP_SEQUENCES} stop sequences, got ${stops.length}`,
      );
    }
    const stop = stops.map((s, i) => string(s, `stop_sequences.${i}`));
    if (stop.some((s) => s === ''))
      fail('stop_sequences', 'stop_sequences: must not be empty strings');
    if (stop.length > 0) request.stop = stop;
  }
}

function metadata(value: unknown, request: InferenceRequest): void {
  if (!isObject(value)) fail('metadata', 'metadata: must be an object');
  onlyFields(value, 'metadata', ['user_id']);
  if (value.user_id !== undefined && value.user_id !== null) {
    const user = string(value.user_id, 'metadata.user_id');
    if (user.length > 256) fail('metadata.user_id', 'metadata.user_id: at most 256 characters');
    request.user = user;
  }
}

/** `system`: a string or text blocks, the conversation's first message. */
function system(value: unknown, param: string): ChatMessage[] {
  if (typeof value === 'string') return value === '' ? [] : [{ role: 'system', content: value }];
  const blocks = parseBlocks(value, param, 'system');
  return blocks.parts.length === 0 ? [] : [{ role: 'system', content: blocks.parts }];
}

/** One Anthropic message: one chat message, or several when a user turn holds tool results. */
function message(value: unknown, param: string): ChatMessage[] {
  if (!isObject(value)) fail(param, `${param}: must be an object`);
  onlyFields(value, param, ['role', 'content']);
  const role = value.role;
  if (role !== 'user' && role !== 'assistant' && role !== 'system') {
    fail(`${param}.role`, `${param}.role: must be 'user' or 'assistant'`);
  }
  if (role === 'system') return system(value.content, `${param}.content`);
  if (typeof value.content === 'string') return [{ role, content: value.content }];
  const blocks = parseBlocks(value.content, `${param}.content`, role);
  return role === 'user' ? userTurn(blocks) : [assistantTurn(blocks)];
}

/**
 * A user turn: its tool results become `tool` messages (one per result, in order, as chat
 * completions wants them right after the calls), the rest one user message.
 */
function userTurn(blocks: Blocks): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const result of blocks.toolResults) {
    out.push({ role: 'tool', tool_call_id: result.id, content: result.content });
  }
  if (blocks.parts.length > 0 || out.length === 0)
    out.push({ role: 'user', content: blocks.parts });
  return out;
}

/** An assistant turn: its text, tool calls and thinking (redacted thinking is dropped). */
function assistantTurn(blocks: Blocks): ChatMessage {
  const text = blocks.parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
  const turn: ChatMessage = {
    role: 'assistant',
    content: text === '' && blocks.toolCalls.length > 0 ? null : text,
  };
  if (blocks.toolCalls.length > 0) turn.tool_calls = blocks.toolCalls;
  if (blocks.reasoning !== undefined) turn.reasoning = blocks.reasoning;
  return turn;
}

function tools(value: unknown): NonNullable<InferenceRequest['tools']> {
  if (!Array.isArray(value)) fail('tools', 'tools: must be an array');
  return value.map((tool: unknown, i) => {
    const param = `tools.${i}`;
    if (!isObject(tool)) fail(param, `${param}: must be an object`);
    if (tool.type !== undefined && tool.type !== null && tool.type !== 'custom') {
      fail(
        `${param}.type`,
        `${param}.type: server tools (${JSON.stringify(tool.type).slice(0, 64)}) are not supported; define a custom tool with name and input_schema`,
      );
    }
    for (const key of ['defer_loading', 'allowed_callers']) {
      if (tool[key] !== undefined && tool[key] !== null && tool[key] !== false) {
        fail(
          `${param}.${key}`,
          `${param}.${key}: tool search and programmatic calls are not supported by llmwire`,
        );
      }
    }
    // eager_input_streaming and input_examples are hints that change nothing here.
    onlyFields(tool, param, TOOL_FIELDS);
    const name = string(tool.name, `${param}.name`);
    if (!TOOL_NAME.test(name)) {
      fail(`${param}.name`, `${param}.name: must match ^[a-zA-Z0-9_-]{1,64}$`);
    }
    const description = optional(tool.description, `${param}.description`, 'string');
    if (!isObject(tool.input_schema)) {
      fail(`${param}.input_schema`, `${param}.input_schema: must be a JSON Schema object`);
    }
    const strict = optional(tool.strict, `${param}.strict`, 'boolean');
    return {
      type: 'function' as const,
      function: {
        name,
        ...(description === undefined ? {} : { description }),
        parameters: tool.input_schema,
        ...(strict === undefined ? {} : { strict }),
      },
    };
  });
}

/**
 * `tool_choice` -> chat completions' `tool_choice` and `parallel_tool_calls`: auto -> 'auto',
 * any -> 'required', {tool, name} -> that function, none -> 'none'. Anthropic calls tools in
 * parallel unless `disable_parallel_tool_use`, so `parallel_tool_calls` is its negation.
 */
function toolChoice(value: unknown, request: InferenceRequest): void {
  if (!isObject(value)) fail('tool_choice', 'tool_choice: must be an object');
  const type = value.type;
  const allowed =
    type === 'tool'
      ? ['type', 'name', 'disable_parallel_tool_use']
      : ['type', 'disable_parallel_tool_use'];
  onlyFields(value, 'tool_choice', allowed);
  const noParallel = optional(
    value.disable_parallel_tool_use,
    'tool_choice.disable_parallel_tool_use',
    'boolean',
  );
  switch (type) {
    case 'auto':
      request.tool_choice = 'auto';
      break;
    case 'any':
      request.tool_choice = 'required';
      break;
    case 'none':
      request.tool_choice = 'none';
      break;
    case 'tool': {
      const name = string(value.name, 'tool_choice.name');
      request.tool_choice = { type: 'function', function: { name } };
      break;
    }
    default:
      fail('tool_choice.type', "tool_choice.type: must be 'auto', 'any', 'tool' or 'none'");
  }
  if (noParallel !== undefined) request.parallel_tool_calls = !noParallel;
}

/**
 * `thinking` -> `reasoning_effort`. A budget below 4,096 tokens is 'low', below 16,384
 * 'medium', more 'high'; `adaptive` is 'medium' and `disabled` asks for none.
 */
function thinking(value: unknown, request: InferenceRequest): void {
  if (!isObject(value)) fail('thinking', 'thinking: must be an object');
  const type = value.type;
  const allowed = type === 'enabled' ? ['type', 'budget_tokens', 'display'] : ['type', 'display'];
  onlyFields(value, 'thinking', allowed);
  if (value.display !== undefined && value.display !== null) {
    const display = string(value.display, 'thinking.display');
    if (display !== 'summarized' && display !== 'omitted') {
      fail('thinking.display', "thinking.display: must be 'summarized' or 'omitted'");
    }
  }
  switch (type) {
    case 'enabled': {
      const budget = positiveInteger(value.budget_tokens, 'thinking.budget_tokens');
      if (budget < 1024)
        fail('thinking.budget_tokens', 'thinking.budget_tokens: must be at least 1024');
      if (
        request.max_tokens !== undefined &&
        request.max_tokens !== null &&
        budget >= request.max_tokens
      ) {
        fail('thinking.budget_tokens', 'thinking.budget_tokens: must be less than max_tokens');
      }
      request.reasoning_effort = budget < 4096 ? 'low' : budget < 16_384 ? 'medium' : 'high';
      break;
    }
    case 'adaptive':
      request.reasoning_effort = 'medium';
      break;
    case 'disabled':
      break;
    default:
      fail('thinking.type', "thinking.type: must be 'enabled', 'adaptive' or 'disabled'");
  }
}

/**
 * `output_config`: `effort` (low, medium, high; xhigh and max are 'high') sets
 * `reasoning_effort` when `thinking` did not; `format` {type: 'json_schema', schema} is
 * `response_format` json_schema.
 */
function outputConfig(value: unknown, request: InferenceRequest): void {
  if (!isObject(value)) fail('output_config', 'output_config: must be an object');
  onlyFields(value, 'output_config', ['effort', 'format']);
  if (value.effort !== undefined && value.effort !== null) {
    const effort = string(value.effort, 'output_config.effort');
    if (!['low', 'medium', 'high', 'xhigh', 'max'].includes(effort)) {
      fail(
        'output_config.effort',
        "output_config.effort: must be 'low', 'medium', 'high', 'xhigh' or 'max'",
      );
    }
    request.reasoning_effort ??= effort === 'low' || effort === 'medium' ? effort : 'high';
  }
  if (value.format !== undefined && value.format !== null) {
    const format = value.format;
    if (!isObject(format) || format.type !== 'json_schema' || !isObject(format.schema)) {
      fail(
        'output_config.format',
        "output_config.format: must be {type: 'json_schema', schema: {...}}",
      );
    }
    request.response_format = {
      type: 'json_schema',
      json_schema: { name: 'output', schema: format.schema },
    };
  }
}
