// What the Anthropic Messages tests share: the official client pointed at a gateway, and the
// conversations and tools they ask with.
import Anthropic from '@anthropic-ai/sdk';
import type { MessageParam, Tool } from '@anthropic-ai/sdk/resources/messages';

/** The official client as an application configures it, against `url` (no retries). */
export function anthropic(stack: { url: string }, key = 'none'): Anthropic {
  return new Anthropic({ baseURL: stack.url, apiKey: key, maxRetries: 0 });
}

export const hello: MessageParam[] = [{ role: 'user', content: 'Say hello to the wire.' }];

export const weather: Tool = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string', minLength: 2, maxLength: 12 } },
    required: ['city'],
  },
};

export const time: Tool = {
  name: 'get_time',
  description: 'The time in a city',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string' }, utc: { type: 'boolean' } },
    required: ['city', 'utc'],
  },
};
