// Tools and response_format in node-llama-cpp's terms, checked on the translation functions
// themselves: tools to chat functions under tool_choice, response_format to a grammar request,
// a chat with tool calls and results to a chat history, and the model's calls to OpenAI deltas.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chatHistory } from '../../../src/llm/backends/llama-cpp/history.js';
import {
  finishReason,
  grammarRequest,
  newCallId,
  outputControls,
  toolCallDeltas,
} from '../../../src/llm/backends/llama-cpp/output.js';
import { AnswerJoiner } from '../../../src/llm/answer.js';
import {
  InvalidMessageError,
  type ChatMessage,
  type InferenceRequest,
} from '../../../src/protocol/index.js';

const weather = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
    },
  },
};
const clock = { type: 'function' as const, function: { name: 'get_time' } };

const ask = (extra: Partial<InferenceRequest> = {}): InferenceRequest => ({
  model: 'm',
  messages: [{ role: 'user', content: 'Weather in Paris?' }],
  tools: [weather, clock],
  ...extra,
});

function invalid(fn: () => unknown, message: RegExp): void {
  assert.throws(
    fn,
    (err: unknown) => err instanceof InvalidMessageError && message.test(err.message),
  );
}

describe('llama-cpp tools and tool_choice', () => {
  test('llama-cpp tools - tools become chat functions with descriptions and parameter schemas', () => {
    assert.deepEqual(outputControls(ask()), {
      functions: {
        functions: {
          get_weather: {
            description: 'Weather for a city',
            params: { type: 'object', properties: { city: { type: 'string' } } },
          },
          get_time: {},
        },
        documentFunctionParams: true,
      },
    });
  });

  test('llama-cpp tools - parallel_tool_calls false allows one call', () => {
    const controls = outputControls(ask({ parallel_tool_calls: false }));
    assert.equal(controls.functions?.maxParallelFunctionCalls, 1);
    assert.equal(
      outputControls(ask({ parallel_tool_calls: true })).functions?.maxParallelFunctionCalls,
      undefined,
    );
  });

  test('llama-cpp tools - none passes no functions, required all, a named tool only that one', () => {
    assert.deepEqual(outputControls(ask({ tool_choice: 'none' })), {});
    assert.deepEqual(outputControls(ask({ tools: [] })), {});
    assert.deepEqual(
      Object.keys(outputControls(ask({ tool_choice: 'required' })).functions?.functions ?? {}),
      ['get_weather', 'get_time'],
    );
    const named = outputControls(
      ask({ tool_choice: { type: 'function', function: { name: 'get_time' } } }),
    );
    assert.deepEqual(named.functions?.functions, { get_time: {} });
  });

  test('llama-cpp tools - a bad tool_choice is invalid_message, as for the sim', () => {
    invalid(
      () => outputControls(ask({ tools: undefined, tool_choice: 'required' })),
      /needs tools/,
    );
    invalid(
      () =>
        outputControls(ask({ tool_choice: { type: 'function', function: { name: 'launch' } } })),
      /'launch', which is not in tools/,
    );
    invalid(() => outputControls(ask({ tool_choice: 'always' })), /tool_choice must be/);
  });

  test('llama-cpp tools - tools on a prompt request and parameters it cannot express are invalid_message', () => {
    const { messages: _, ...prompt } = ask({ prompt: 'Weather:' });
    invalid(() => outputControls(prompt), /need a chat request/);
    const bad = { ...weather, function: { ...weather.function, parameters: { allOf: [] } } };
    invalid(() => outputControls(ask({ tools: [bad] })), /^tool 'get_weather' parameters: 'allOf'/);
  });
});

describe('llama-cpp response_format', () => {
  test('llama-cpp response_format - json_object asks for the JSON grammar, json_schema for a schema grammar', () => {
    assert.equal(grammarRequest(ask({ response_format: { type: 'text' } })), undefined);
    assert.deepEqual(grammarRequest(ask({ response_format: { type: 'json_object' } })), {
      type: 'json',
    });
    const schema = {
      type: 'object',
      properties: { answer: { anyOf: [{ type: 'string' }, { type: 'null' }] } },
      required: ['answer'],
    };
    assert.deepEqual(
      grammarRequest(
        ask({ response_format: { type: 'json_schema', json_schema: { name: 'a', schema } } }),
      ),
      {
        type: 'schema',
        schema: {
          type: 'object',
          properties: { answer: { oneOf: [{ type: 'string' }, { type: 'null' }] } },
        },
      },
    );
    assert.deepEqual(
      grammarRequest(ask({ response_format: { type: 'json_schema', json_schema: { name: 'a' } } })),
      { type: 'json' },
    );
    invalid(
      () =>
        grammarRequest(
          ask({
            response_format: {
              type: 'json_schema',
              json_schema: { name: 'out', schema: { not: {} } },
            },
          }),
        ),
      /^response_format schema 'out': 'not' is not supported/,
    );
  });

  test('llama-cpp response_format - a grammar with callable tools is invalid_message; with tool_choice none the grammar applies', () => {
    const json = { response_format: { type: 'json_object' as const } };
    invalid(() => outputControls(ask(json)), /cannot use response_format 'json_object' with tools/);
    invalid(() => outputControls(ask({ ...json, tool_choice: 'required' })), /with tools/);
    assert.deepEqual(outputControls(ask({ ...json, tool_choice: 'none' })), {
      grammar: { type: 'json' },
    });
    assert.deepEqual(outputControls(ask({ ...json, tools: undefined })), {
      grammar: { type: 'json' },
    });
  });

  test('llama-cpp response_format - continue_from under a grammar is invalid_message', () => {
    invalid(
      () =>
        outputControls(
          ask({
            tools: undefined,
            response_format: { type: 'json_object' },
            continue_from: '{"a"',
          }),
        ),
      /cannot continue a response_format answer/,
    );
  });
});

describe('llama-cpp chat history with tool calls', () => {
  const conversation: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Weather in Paris and the time?' },
    {
      role: 'assistant',
      content: 'Checking.',
      tool_calls: [
        {
          id: 'call_1',
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
        },
        { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'call_2', content: '12:00' },
    { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
    { role: 'assistant', content: '21 degrees at noon.' },
    { role: 'user', content: 'Thanks' },
  ];

  test('llama-cpp history - calls hold their results and the answer after them stays in the same model turn', () => {
    assert.deepEqual(chatHistory(conversation, '', [weather, clock]), [
      { type: 'system', text: 'Be brief.' },
      { type: 'user', text: 'Weather in Paris and the time?' },
      {
        type: 'model',
        response: [
          'Checking.',
          {
            type: 'functionCall',
            name: 'get_weather',
            description: 'Weather for a city',
            params: { city: 'Paris' },
            // Output that is JSON is kept as its value: node-llama-cpp writes results as JSON.
            result: { temp: 21 },
            startsNewChunk: true,
          },
          { type: 'functionCall', name: 'get_time', params: {}, result: '12:00' },
          '21 degrees at noon.',
        ],
      },
      { type: 'user', text: 'Thanks' },
    ]);
  });

  test('llama-cpp history - a chat ending with tool results ends with the model turn, which continue_from extends', () => {
    const upToResults = conversation.slice(0, 5);
    const history = chatHistory(upToResults, 'It is', []);
    const last = history.at(-1);
    assert.equal(last?.type, 'model');
    assert.ok(last?.type === 'model');
    assert.equal(last.response.length, 4);
    assert.equal(last.response.at(-1), 'It is');
    assert.deepEqual(last.response[1], {
      type: 'functionCall',
      name: 'get_weather',
      params: { city: 'Paris' },
      result: { temp: 21 },
      startsNewChunk: true,
    });
  });

  test('llama-cpp history - an assistant message of calls only has no text item; a later call starts a new chunk', () => {
    const history = chatHistory(
      [
        { role: 'user', content: 'time?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'a', type: 'function', function: { name: 'get_time', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'a', content: '"noon"' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'b', content: 'still noon' },
      ],
      '',
    );
    assert.deepEqual(history.at(-1), {
      type: 'model',
      response: [
        {
          type: 'functionCall',
          name: 'get_time',
          params: {},
          result: 'noon',
          startsNewChunk: true,
        },
        {
          type: 'functionCall',
          name: 'get_time',
          params: {},
          result: 'still noon',
          startsNewChunk: true,
        },
      ],
    });
  });

  test('llama-cpp history - unanswered calls, stray tool messages and non-JSON arguments are invalid_message', () => {
    const call = (id: string, args = '{}'): ChatMessage => ({
      role: 'assistant',
      content: null,
      tool_calls: [{ id, type: 'function', function: { name: 'get_time', arguments: args } }],
    });
    const user: ChatMessage = { role: 'user', content: 'hi' };
    invalid(() => chatHistory([user, call('a'), user], ''), /unanswered: "a"/);
    invalid(() => chatHistory([user, call('a')], ''), /unanswered: "a"/);
    invalid(
      () => chatHistory([user, { role: 'tool', tool_call_id: 'x', content: 'r' }], ''),
      /no call has tool_call_id "x"/,
    );
    invalid(
      () => chatHistory([user, call('a'), { role: 'tool', content: 'r' }], ''),
      /no call has tool_call_id null/,
    );
    invalid(
      () => chatHistory([user, call('a', '{city:')], ''),
      /"a" has arguments that are not JSON/,
    );
  });
});

describe('llama-cpp function calls as OpenAI deltas', () => {
  test('llama-cpp deltas - one delta per call with the whole arguments, joined back as the gateway does', () => {
    let n = 0;
    const deltas = toolCallDeltas(
      [
        { functionName: 'get_weather', params: { city: 'Paris' } },
        { functionName: 'get_time', params: undefined },
      ],
      () => `call_${++n}`,
    );
    assert.deepEqual(deltas, [
      {
        index: 0,
        id: 'call_1',
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      },
      { index: 1, id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ]);
    const joiner = new AnswerJoiner();
    joiner.add({ text: '', tool_calls: deltas });
    assert.deepEqual(joiner.toolCalls(), [
      {
        id: 'call_1',
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      },
      { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ]);
  });

  test('llama-cpp deltas - call ids are OpenAI-shaped and distinct', () => {
    const ids = new Set(Array.from({ length: 50 }, newCallId));
    assert.equal(ids.size, 50);
    for (const id of ids) assert.match(id, /^call_[0-9a-f]{24}$/);
  });

  test('llama-cpp deltas - finish_reason is tool_calls after calls, length on max tokens', () => {
    assert.equal(finishReason('functionCalls', 2), 'tool_calls');
    assert.equal(finishReason('functionCalls', 0), 'stop');
    assert.equal(finishReason('eogToken', 0), 'stop');
    assert.equal(finishReason('customStopTrigger', 0), 'stop');
    assert.equal(finishReason('maxTokens', 1), 'length');
  });
});
