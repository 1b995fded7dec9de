// Requests in node-llama-cpp's terms: chat messages become a chat history (tool calls and their
// results inside the model's turn), and text that another worker already sent (continue_from)
// becomes the start of the model's turn.
import type { ChatMessage, InferenceRequest } from '../../../protocol/index.js';
import { InvalidMessageError, type WireError } from '../../../protocol/index.js';
import type { ChatHistoryItem, ChatModelFunctionCall, LlamaGenerationOptions } from './module.js';

type ModelTurn = Extract<ChatHistoryItem, { type: 'model' }>;

/**
 * The chat as node-llama-cpp's history. An assistant message's tool calls become function-call
 * items of its model turn, each holding the result of the tool message that answers it; an
 * assistant message after those results goes on in the same turn, as node-llama-cpp keeps a turn
 * of calls, results and answer together. `tools` give the calls their descriptions.
 */
export function chatHistory(
  messages: readonly ChatMessage[],
  continueFrom: string,
  tools: InferenceRequest['tools'] = [],
): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  // Calls of the last assistant message still waiting for their tool message, by id.
  const waiting = new Map<string, ChatModelFunctionCall>();
  // The model turn that the answer after tool results continues.
  let turn: ModelTurn | undefined;
  for (const message of messages) {
    if (message.role !== 'tool' && waiting.size > 0) throw unanswered(waiting);
    switch (message.role) {
      case 'system':
      case 'developer':
        history.push({ type: 'system', text: textOf(message) });
        turn = undefined;
        break;
      case 'user':
        history.push({ type: 'user', text: textOf(message) });
        turn = undefined;
        break;
      case 'assistant': {
        const text = textOf(message);
        const calls = message.tool_calls ?? [];
        const model: ModelTurn = turn ?? { type: 'model', response: [] };
        if (turn === undefined) history.push(model);
        if (text !== '' || calls.length === 0) model.response.push(text);
        for (const [k, call] of calls.entries()) {
          const description = tools.find((t) => t.function.name === call.function.name)?.function
            .description;
          const functionCall: ChatModelFunctionCall = {
            type: 'functionCall',
            name: call.function.name,
            ...(description === undefined ? {} : { description }),
            params: callParams(call.function.arguments, call.id),
            result: undefined,
            ...(k === 0 ? { startsNewChunk: true } : {}),
          };
          model.response.push(functionCall);
          waiting.set(call.id, functionCall);
        }
        turn = calls.length > 0 ? model : undefined;
        break;
      }
      case 'tool': {
        const id = message.tool_call_id;
        const call = id === undefined ? undefined : waiting.get(id);
        if (id === undefined || call === undefined) {
          throw new InvalidMessageError(
            `a tool message must answer a tool call of the assistant message before it; no call has tool_call_id ${JSON.stringify(id ?? null)}`,
          );
        }
        call.result = toolResult(textOf(message));
        waiting.delete(id);
        break;
      }
    }
  }
  if (waiting.size > 0) throw unanswered(waiting);
  if (continueFrom !== '') {
    // LlamaChat continues a history that ends with the model's turn; a trailing assistant
    // message from the client, or tool results, is already such a turn, and the text sent so
    // far extends it.
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
  const options: LlamaGenerationOptions = {};
  if (typeof request.temperature === 'number') options.temperature = request.temperature;
  if (typeof request.top_p === 'number') options.topP = request.top_p;
  if (typeof request.seed === 'number') options.seed = request.seed;
  const stop = request.stop ?? [];
  const stops = (typeof stop === 'string' ? [stop] : stop).filter((s) => s !== '');
  if (stops.length > 0) options.customStopTriggers = stops;
  return options;
}

/** A call's arguments as the value node-llama-cpp keeps as its params. */
function callParams(args: string, id: string): unknown {
  try {
    return JSON.parse(args) as unknown;
  } catch (err) {
    throw new InvalidMessageError(
      `tool call ${JSON.stringify(id)} has arguments that are not JSON`,
      {
        cause: err,
      },
    );
  }
}

/**
 * A tool's output as a call result. node-llama-cpp writes results into the prompt as JSON, so
 * output that is JSON is kept as its value (written back the same), other text as a string.
 */
function toolResult(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function unanswered(waiting: ReadonlyMap<string, unknown>): WireError {
  const ids = [...waiting.keys()].map((id) => JSON.stringify(id)).join(', ');
  return new InvalidMessageError(
    `an assistant message's tool calls must each be answered by a tool message before the next message; unanswered: ${ids}`,
  );
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
