// Responses input items -> the chat messages of an `inference.request`, and an answer back into
// the chat message a later turn sees (previous_response_id).
import {
  InvalidMessageError,
  type ChatMessage,
  type InferenceResult,
} from '../../../protocol/index.js';
import { checkContent, checkItem, type ContentPart, type InputItem } from './schema.js';

type ChatPart = Exclude<ChatMessage['content'], string | null>[number];

/** The input as items: a string is one user message. Each item is checked. */
export function inputItems(input: string | unknown[] | undefined): InputItem[] {
  if (input === undefined) return [];
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  return input.map((item, i) => checkItem(item, `input.${i}`));
}

/** Chat messages for the items, in order; function calls join the assistant turn before them. */
export function itemsToMessages(items: readonly InputItem[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  let reasoning: string | undefined;
  const assistant = (): ChatMessage => {
    const last = out.at(-1);
    if (last?.role === 'assistant') return last;
    const message: ChatMessage = { role: 'assistant', content: null };
    if (reasoning !== undefined) message.reasoning = reasoning;
    reasoning = undefined;
    out.push(message);
    return message;
  };
  for (const [i, item] of items.entries()) {
    switch (item.type) {
      case 'function_call':
        (assistant().tool_calls ??= []).push({
          id: item.call_id,
          type: 'function',
          function: { name: item.name, arguments: item.arguments },
        });
        break;
      case 'function_call_output':
        out.push({
          role: 'tool',
          tool_call_id: item.call_id,
          content:
            typeof item.output === 'string'
              ? item.output
              : item.output
                  .map((p, j) => contentText(checkContent(p, `input.${i}.output.${j}`)))
                  .join(''),
        });
        break;
      case 'reasoning':
        reasoning = [...(item.content ?? []), ...item.summary].map((p) => p.text).join('');
        break;
      default: {
        const content = messageContent(item.content, item.role, `input.${i}.content`);
        if (item.role === 'assistant') {
          const message = assistant();
          const text = typeof content === 'string' ? content : content.map(partText).join('');
          message.content = (typeof message.content === 'string' ? message.content : '') + text;
        } else {
          out.push({ role: item.role, content });
        }
      }
    }
  }
  return out;
}

function messageContent(
  content: string | unknown[],
  role: string,
  at: string,
): string | ChatPart[] {
  if (typeof content === 'string') return content;
  return content.map((raw, j) => {
    const part = checkContent(raw, `${at}.${j}`);
    const param = `${at}.${j}`;
    const assistantOnly = part.type === 'output_text' || part.type === 'refusal';
    if (assistantOnly !== (role === 'assistant')) {
      throw new InvalidMessageError(
        `${param}: a ${role} message cannot hold '${part.type}' content`,
        { details: { param } },
      );
    }
    return chatPart(part, param);
  });
}

function chatPart(part: ContentPart, param: string): ChatPart {
  switch (part.type) {
    case 'input_text':
    case 'output_text':
      return { type: 'text', text: part.text };
    case 'refusal':
      return { type: 'text', text: part.refusal };
    case 'input_image':
      if (typeof part.image_url !== 'string') {
        throw new InvalidMessageError(
          `${param}: llmwire keeps no files; send the image as image_url (a URL or data: URL)`,
          { details: { param } },
        );
      }
      return {
        type: 'image_url',
        image_url: {
          url: part.image_url,
          ...(part.detail === undefined ? {} : { detail: part.detail }),
        },
      };
    case 'input_file': {
      if (part.file_data === undefined && part.file_url === undefined) {
        throw new InvalidMessageError(
          `${param}: llmwire keeps no files; send the file as file_data or file_url`,
          { details: { param } },
        );
      }
      const file: Record<string, unknown> = {};
      if (part.file_data !== undefined) file.file_data = part.file_data;
      if (part.file_url !== undefined) file.file_url = part.file_url;
      if (part.filename !== undefined) file.filename = part.filename;
      return { type: 'file', file };
    }
    case 'input_audio':
      return { type: 'input_audio', input_audio: part.input_audio };
  }
}

function partText(part: ChatPart): string {
  return part.type === 'text' ? part.text : '';
}

function contentText(part: ContentPart): string {
  return part.type === 'input_text' || part.type === 'output_text' ? part.text : '';
}

/** The answer as the assistant message a later turn's context holds. */
export function answerMessage(result: InferenceResult): ChatMessage {
  const message: ChatMessage = {
    role: 'assistant',
    content: result.text === '' && result.tool_calls !== undefined ? null : result.text,
  };
  if (result.tool_calls !== undefined) message.tool_calls = result.tool_calls;
  if (result.reasoning !== undefined) message.reasoning = result.reasoning;
  return message;
}
