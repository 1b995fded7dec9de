// Tool calls and structured output from the sim backend, through the gateway with the official
// openai SDK: tool_choice none/auto/required/named, streamed and whole, and response_format.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Type, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import OpenAI from 'openai';
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { startStack } from '../stack.js';

const Weather = Type.Object({
  city: Type.String({ minLength: 2 }),
  unit: Type.Union([Type.Literal('celsius'), Type.Literal('fahrenheit')]),
  days: Type.Integer({ minimum: 1, maximum: 7 }),
  details: Type.Object({
    hourly: Type.Boolean(),
    fields: Type.Array(Type.String(), { minItems: 1, maxItems: 3 }),
    threshold: Type.Number({ minimum: -5, maximum: 5 }),
  }),
});
const Search = Type.Object({ query: Type.String() });
const SCHEMAS: Record<string, TSchema> = { get_weather: Weather, search: Search };

/** A tool whose parameters are the plain JSON Schema of a TypeBox type. */
function tool(name: string, parameters: TSchema): ChatCompletionTool {
  return {
    type: 'function',
    function: {
      name,
      parameters: JSON.parse(JSON.stringify(parameters)) as Record<string, unknown>,
    },
  };
}
const TOOLS = [tool('get_weather', Weather), tool('search', Search)];

function ask(
  content: string,
  extra: Partial<ChatCompletionCreateParamsNonStreaming> = {},
): ChatCompletionCreateParamsNonStreaming {
  return { model: 'sim', messages: [{ role: 'user', content }], tools: TOOLS, seed: 3, ...extra };
}

/** Checks each call's arguments parse and match its tool's schema; returns the tool names. */
function checkCalls(
  calls: readonly { id: string; function: { name: string; arguments: string } }[],
) {
  for (const call of calls) {
    assert.match(call.id, /^call_[0-9a-f]{16}$/);
    const schema = SCHEMAS[call.function.name];
    assert.ok(schema !== undefined, `unknown tool ${call.function.name}`);
    const args: unknown = JSON.parse(call.function.arguments);
    assert.ok(Value.Check(schema, args), `${call.function.arguments} does not match`);
  }
  return calls.map((c) => c.function.name);
}

/** The whole function calls of a completion. */
function functionCalls(message: OpenAI.ChatCompletionMessage) {
  return (message.tool_calls ?? []).map((c) => {
    assert.equal(c.type, 'function');
    return c;
  });
}

describe('sim backend - tool calls and structured output', () => {
  test('sim tools - required gives a call to the first tool whose arguments match its schema', async () => {
    await using stack = await startStack();
    const res = await stack
      .client()
      .chat.completions.create(ask('hi', { tool_choice: 'required' }));
    const choice = res.choices[0];
    assert.equal(choice?.finish_reason, 'tool_calls');
    assert.deepEqual(checkCalls(functionCalls(choice.message)), ['get_weather']);
    assert.equal(choice.message.content, null, 'no text beside the call, as OpenAI sends it');
    assert.ok((res.usage?.completion_tokens ?? 0) > 1);
  });

  test('sim tools - required with parallel_tool_calls gives one call per tool', async () => {
    await using stack = await startStack();
    const client = stack.client();
    const res = await client.chat.completions.create(
      ask('hi', { tool_choice: 'required', parallel_tool_calls: true }),
    );
    assert.deepEqual(checkCalls(functionCalls(res.choices[0]!.message)), ['get_weather', 'search']);
  });

  test('sim tools - a named tool_choice calls that tool', async () => {
    await using stack = await startStack();
    const res = await stack
      .client()
      .chat.completions.create(
        ask('hi', { tool_choice: { type: 'function', function: { name: 'search' } } }),
      );
    assert.deepEqual(checkCalls(functionCalls(res.choices[0]!.message)), ['search']);
  });

  test('sim tools - auto calls a tool the user message names, else answers text', async () => {
    await using stack = await startStack();
    const client = stack.client();
    const named = await client.chat.completions.create(ask('please use search for llamas'));
    assert.equal(named.choices[0]?.finish_reason, 'tool_calls');
    assert.deepEqual(checkCalls(functionCalls(named.choices[0].message)), ['search']);
    const plain = await client.chat.completions.create(ask('tell me a story'));
    assert.equal(plain.choices[0]?.finish_reason, 'stop');
    assert.equal(plain.choices[0]?.message.tool_calls, undefined);
    assert.ok((plain.choices[0]?.message.content ?? '').length > 0);
  });

  test('sim tools - none answers text even when the message names a tool', async () => {
    await using stack = await startStack();
    const res = await stack
      .client()
      .chat.completions.create(ask('use search', { tool_choice: 'none' }));
    assert.equal(res.choices[0]?.finish_reason, 'stop');
    assert.equal(res.choices[0]?.message.tool_calls, undefined);
    assert.ok((res.choices[0]?.message.content ?? '').length > 0);
  });

  test('sim tools - a streamed call starts with id and name, then argument pieces', async () => {
    await using stack = await startStack();
    const stream = await stack.client().chat.completions.create({
      ...ask('what does get_weather say', { stream_options: { include_usage: true } }),
      stream: true,
    });
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice?.delta.tool_calls !== undefined) deltas.push(...choice.delta.tool_calls);
      if (choice?.finish_reason) finish = choice.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(finish, 'tool_calls');
    const [head, ...rest] = deltas;
    assert.equal(head?.index, 0);
    assert.equal(head?.type, 'function');
    assert.equal(head?.function?.name, 'get_weather');
    assert.equal(head?.function?.arguments, '');
    assert.match(head?.id ?? '', /^call_/);
    assert.ok(rest.length > 2, `${rest.length} argument pieces`);
    assert.ok(rest.every((d) => d.id === undefined && d.function?.name === undefined));
    const args = rest.map((d) => d.function?.arguments ?? '').join('');
    checkCalls([{ id: head?.id ?? '', function: { name: 'get_weather', arguments: args } }]);
    assert.equal(usage?.completion_tokens, deltas.length);

    // The same request, whole, gives the same call.
    const whole = await stack.client().chat.completions.create(ask('what does get_weather say'));
    const [call] = functionCalls(whole.choices[0]!.message);
    assert.equal(call?.id, head?.id);
    assert.equal(call?.function.arguments, args);
  });

  test('sim tools - after a tool result the answer is text', async () => {
    await using stack = await startStack();
    const client = stack.client();
    const first = await client.chat.completions.create(ask('call search please'));
    const [call] = functionCalls(first.choices[0]!.message);
    assert.ok(call !== undefined);
    const messages: ChatCompletionMessageParam[] = [
      { role: 'user', content: 'call search please' },
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: call.id, content: '{"hits":3}' },
    ];
    const res = await client.chat.completions.create({ model: 'sim', messages, tools: TOOLS });
    assert.equal(res.choices[0]?.finish_reason, 'stop');
    assert.equal(res.choices[0]?.message.tool_calls, undefined);
    assert.ok((res.choices[0]?.message.content ?? '').length > 0);
  });

  test('sim tools - a tool_choice naming an unknown tool is a bad request naming it', async () => {
    await using stack = await startStack();
    const err = await stack
      .client()
      .chat.completions.create(
        ask('hi', { tool_choice: { type: 'function', function: { name: 'launch' } } }),
      )
      .then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof OpenAI.BadRequestError, String(err));
    assert.match(err.message, /'launch'/);
  });

  test('sim tools - required without tools or a malformed tool_choice is a bad request', async () => {
    await using stack = await startStack();
    const client = stack.client();
    const fail = (e: unknown) => e;
    const noTools = await client.chat.completions
      .create(ask('hi', { tools: undefined, tool_choice: 'required' }))
      .then(() => assert.fail('expected an error'), fail);
    assert.ok(noTools instanceof OpenAI.BadRequestError, String(noTools));
    assert.match(noTools.message, /needs tools/);
    const malformed = await client.chat.completions
      .create(ask('hi', { tool_choice: 'always' as 'auto' }))
      .then(() => assert.fail('expected an error'), fail);
    assert.ok(malformed instanceof OpenAI.BadRequestError, String(malformed));
    assert.match(malformed.message, /tool_choice must be/);
  });

  test('sim tools - response_format json_schema gives JSON matching the schema, streamed alike', async () => {
    await using stack = await startStack();
    const client = stack.client();
    const request = ask('report', {
      tools: undefined,
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'weather',
          schema: JSON.parse(JSON.stringify(Weather)) as Record<string, unknown>,
        },
      },
    });
    const res = await client.chat.completions.create(request);
    const text = res.choices[0]?.message.content ?? '';
    assert.ok(Value.Check(Weather, JSON.parse(text)), text);
    assert.equal(res.choices[0]?.finish_reason, 'stop');
    let streamed = '';
    for await (const chunk of await client.chat.completions.create({ ...request, stream: true })) {
      streamed += chunk.choices[0]?.delta.content ?? '';
    }
    assert.equal(streamed, text);

    const object = await client.chat.completions.create(
      ask('report', { tools: undefined, response_format: { type: 'json_object' } }),
    );
    const value: unknown = JSON.parse(object.choices[0]?.message.content ?? '');
    assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value));
  });

  test('sim tools - the same request gives the same output and another seed another', async () => {
    await using stack = await startStack();
    const client = stack.client();
    const request = ask('hi', { tool_choice: 'required', parallel_tool_calls: true });
    const a = await client.chat.completions.create(request);
    const b = await client.chat.completions.create(request);
    assert.deepEqual(b.choices[0]?.message.tool_calls, a.choices[0]?.message.tool_calls);
    const c = await client.chat.completions.create({ ...request, seed: 4 });
    assert.notDeepEqual(c.choices[0]?.message.tool_calls, a.choices[0]?.message.tool_calls);
  });
});
