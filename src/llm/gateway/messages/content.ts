// Anthropic content blocks -> chat content parts, tool calls, tool results and reasoning text.
// Which blocks a turn may hold follows the Messages API: images, documents and tool results in
// user turns, tool_use and thinking in assistant turns, text everywhere.
import type { ChatMessage, ToolCall } from '../../../protocol/index.js';
import { fail, isObject, onlyFields, optional, string } from './check.js';

type ContentPart = Exclude<ChatMessage['content'], string | null>[number];

/** What a turn's blocks hold, sorted by what they become. */
export interface Blocks {
  parts: ContentPart[];
  toolCalls: ToolCall[];
  toolResults: { id: string; content: string | ContentPart[] }[];
  /** Thinking text of an assistant turn, joined; redacted thinking is dropped. */
  reasoning?: string;
}

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];
const COMMON = ['type', 'cache_control'];

export function parseBlocks(
  value: unknown,
  param: string,
  role: 'user' | 'assistant' | 'system',
): Blocks {
  if (!Array.isArray(value)) fail(param, `${param}: must be a string or an array of blocks`);
  const out: Blocks = { parts: [], toolCalls: [], toolResults: [] };
  for (const [i, block] of value.entries()) {
    const at = `${param}.${i}`;
    if (!isObject(block)) fail(at, `${at}: must be an object`);
    const type = block.type;
    if (type === 'text') {
      out.parts.push(text(block, at));
    } else if (role === 'user' && type === 'image') {
      out.parts.push(image(block, at));
    } else if (role === 'user' && type === 'document') {
      out.parts.push(...document(block, at));
    } else if (role === 'user' && type === 'tool_result') {
      out.toolResults.push(toolResult(block, at));
    } else if (role === 'assistant' && type === 'tool_use') {
      out.toolCalls.push(toolUse(block, at));
    } else if (role === 'assistant' && type === 'thinking') {
      onlyFields(block, at, [...COMMON, 'thinking', 'signature']);
      const thought = string(block.thinking, `${at}.thinking`);
      // The signature is opaque and not verified: llmwire's own are not secrets either.
      string(block.signature, `${at}.signature`);
      out.reasoning = (out.reasoning ?? '') + thought;
    } else if (role === 'assistant' && type === 'redacted_thinking') {
      onlyFields(block, at, [...COMMON, 'data']);
      string(block.data, `${at}.data`);
    } else {
      const kind = typeof type === 'string' ? `'${type.slice(0, 64)}'` : 'without a type';
      fail(`${at}.type`, `${at}.type: a block ${kind} is not supported in a ${role} turn`);
    }
  }
  return out;
}

function text(block: Record<string, unknown>, at: string): ContentPart {
  onlyFields(block, at, [...COMMON, 'text', 'citations']);
  return { type: 'text', text: string(block.text, `${at}.text`) };
}

/** base64 -> a data: URL, url -> that URL; both as chat completions' `image_url` part. */
function image(block: Record<string, unknown>, at: string): ContentPart {
  onlyFields(block, at, [...COMMON, 'source']);
  const source = block.source;
  const param = `${at}.source`;
  if (!isObject(source)) fail(param, `${param}: must be an object`);
  if (source.type === 'base64') {
    onlyFields(source, param, ['type', 'media_type', 'data']);
    const media = string(source.media_type, `${param}.media_type`);
    if (!IMAGE_TYPES.includes(media)) {
      fail(`${param}.media_type`, `${param}.media_type: must be one of ${IMAGE_TYPES.join(', ')}`);
    }
    const data = string(source.data, `${param}.data`);
    if (data === '') fail(`${param}.data`, `${param}.data: must not be empty`);
    return { type: 'image_url', image_url: { url: `data:${media};base64,${data}` } };
  }
  if (source.type === 'url') {
    onlyFields(source, param, ['type', 'url']);
    const url = string(source.url, `${param}.url`);
    if (url === '') fail(`${param}.url`, `${param}.url: must not be empty`);
    return { type: 'image_url', image_url: { url } };
  }
  return fail(
    `${param}.type`,
    `${param}.type: must be 'base64' or 'url' (Files API ids are not supported)`,
  );
}

/**
 * base64 PDF -> a `file` part with a data: URL; plain text -> a text part; content blocks ->
 * their text and image parts. PDFs by URL and Files API ids have no chat completions part.
 */
function document(block: Record<string, unknown>, at: string): ContentPart[] {
  onlyFields(block, at, [...COMMON, 'source', 'title', 'context', 'citations']);
  const title = optional(block.title, `${at}.title`, 'string');
  optional(block.context, `${at}.context`, 'string');
  const source = block.source;
  const param = `${at}.source`;
  if (!isObject(source)) fail(param, `${param}: must be an object`);
  switch (source.type) {
    case 'base64': {
      onlyFields(source, param, ['type', 'media_type', 'data']);
      if (source.media_type !== 'application/pdf') {
        fail(`${param}.media_type`, `${param}.media_type: must be 'application/pdf'`);
      }
      const data = string(source.data, `${param}.data`);
      const filename = title ?? 'document.pdf';
      return [
        { type: 'file', file: { filename, file_data: `data:application/pdf;base64,${data}` } },
      ];
    }
    case 'text': {
      onlyFields(source, param, ['type', 'media_type', 'data']);
      if (source.media_type !== 'text/plain') {
        fail(`${param}.media_type`, `${param}.media_type: must be 'text/plain'`);
      }
      return [{ type: 'text', text: string(source.data, `${param}.data`) }];
    }
    case 'content': {
      onlyFields(source, param, ['type', 'content']);
      if (typeof source.content === 'string') return [{ type: 'text', text: source.content }];
      return inner(source.content, `${param}.content`);
    }
    default:
      return fail(
        `${param}.type`,
        `${param}.type: documents must be base64 PDF, plain text or content blocks (PDF URLs and Files API ids are not supported)`,
      );
  }
}

/** Text and image blocks, as a document's content or a tool result's. */
function inner(value: unknown, param: string): ContentPart[] {
  if (!Array.isArray(value)) fail(param, `${param}: must be a string or an array of blocks`);
  return value.map((block: unknown, i) => {
    const at = `${param}.${i}`;
    if (!isObject(block)) fail(at, `${at}: must be an object`);
    if (block.type === 'text') return text(block, at);
    if (block.type === 'image') return image(block, at);
    return fail(`${at}.type`, `${at}.type: must be 'text' or 'image' here`);
  });
}

function toolUse(block: Record<string, unknown>, at: string): ToolCall {
  onlyFields(block, at, [...COMMON, 'id', 'name', 'input', 'caller']);
  const id = string(block.id, `${at}.id`);
  if (id === '') fail(`${at}.id`, `${at}.id: must not be empty`);
  const name = string(block.name, `${at}.name`);
  if (!isObject(block.input)) fail(`${at}.input`, `${at}.input: must be an object`);
  return { id, type: 'function', function: { name, arguments: JSON.stringify(block.input) } };
}

/**
 * A tool result: its content as a string or text and image parts. `is_error` has no place in
 * a chat completions `tool` message, so the text says it: "Error: " comes first.
 */
function toolResult(
  block: Record<string, unknown>,
  at: string,
): { id: string; content: string | ContentPart[] } {
  onlyFields(block, at, [...COMMON, 'tool_use_id', 'content', 'is_error']);
  if (block.tool_use_id === undefined)
    fail(`${at}.tool_use_id`, `${at}.tool_use_id: Field required`);
  const id = string(block.tool_use_id, `${at}.tool_use_id`);
  if (id === '') fail(`${at}.tool_use_id`, `${at}.tool_use_id: must not be empty`);
  const isError = optional(block.is_error, `${at}.is_error`, 'boolean') === true;
  const raw = block.content ?? '';
  const prefix = isError ? 'Error: ' : '';
  if (typeof raw === 'string') return { id, content: prefix + raw };
  const parts = inner(raw, `${at}.content`);
  return { id, content: isError ? [{ type: 'text', text: prefix }, ...parts] : parts };
}
