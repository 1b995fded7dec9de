// Requests in node-llama-cpp's terms: chat messages become a chat history, and text that
// another worker already sent (continue_from) becomes the start of the model's turn.
import type { ChatMessage, InferenceRequest } from '../../../protocol/index.js';
import { InvalidMessageError } from '../../../protocol/index.js';
import type { ChatHistoryItem, LlamaGenerationOptions } from './module.js';

export function chatHistory(
  messages: readonly ChatMessage[],
  continueFrom: string,
): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  for (const message of messages) {
    const text = textOf(message);
    switch (message.role) {
      case 'system':
      case 'developer':
        history.push({ type: 'system', text });
        break;
      case 'user':
        history.push({ type: 'user', text });
        break;
      case 'assistant':
        if (message.tool_calls !== undefined && message.tool_calls.length > 0) {
          throw new InvalidMessageError('the llama-cpp backend does not support tool calls');
        }
        history.push({ type: 'model', response: [text] });
        break;
      case 'tool':
        throw new InvalidMessageError('the llama-cpp backend does not support tool messages');
    }
  }
  if (continueFrom !== '') {
    // LlamaChat continues a history that ends with the model's turn; a trailing assistant
    // message from the client is already such a turn, and the text sent so far extends it.
    const last = history.at(-1);
    if (last?.type === 'model') last.response.push(continueFrom);
    else history.push({ type: 'model', response: [continueFrom] });
  }
  return history;
}

export function completionPrompt(request: InferenceRequest): string {
  const prompt = request.prompt ?? '';
  if (Array.isArray(prompt) && prompt.length > 1) {
    throw new InvalidMessageError(
      'several prompts in one request are not supported: a backend streams one choice',
    );
  }
  const text = Array.isArray(prompt) ? (prompt[0] ?? '') : prompt;
  return text + (request.continue_from ?? '');
}

/** Sampling options from the request. Unset temperature keeps the library's greedy default. */
export function generationOptions(request: InferenceRequest): LlamaGenerationOptions {
  if ((request.n ?? 1) > 1) {
    throw new InvalidMessageError('n > 1 is not supported: a backend streams one choice');
  }
  if (request.tools !== undefined && request.tools.length > 0) {
    throw new InvalidMessageError('the llama-cpp backend does not support tools');
  }
  const options: LlamaGenerationOptions = {};
  if (typeof request.temperature === 'number') options.temperature = request.temperature;
  if (typeof request.top_p === 'number') options.topP = request.top_p;
  if (typeof request.seed === 'number') options.seed = request.seed;
  const stop = request.stop ?? [];
  const stops = (typeof stop === 'string' ? [stop] : stop).filter((s) => s !== '');
  if (stops.length > 0) options.customStopTriggers = stops;
  return options;
}

function textOf(message: ChatMessage): string {
  const content = message.content;
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part) => {
      if (part.type !== 'text') {
        throw new InvalidMessageError(`the llama-cpp backend takes text only, not ${part.type}`);
      }
      return part.text;
    })
    .join('');
}
