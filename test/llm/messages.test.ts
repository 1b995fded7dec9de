// The Anthropic Messages API on the gateway through the official clients, unchanged: the
// @anthropic-ai/sdk (create, stream, countTokens) and the Vercel AI SDK's @ai-sdk/anthropic
// provider, against in-process sim workers. The sim is deterministic, so each answer is
// compared with the chat completions answer to the same question.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Message, MessageParam } from '@anthropic-ai/sdk/resources/messages';
import { createAnthropic } from '@ai-sdk/anthropic';
import { generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';
import { anthropic, hello, time, weather } from './messages-client.js';
import { startStack, type Stack } from './stack.js';

/** The chat completions answer to the same conversation (text, usage, reasoning). */
async function chatReference(
  stack: Stack,
  body: Record<string, unknown>,
): Promise<{ text: string; prompt: number; completion: number; reasoning?: string }> {
  const res = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200);
  const json = (await res.json()) as {
    choices: { message: { content: string | null; reasoning_content?: string } }[];
    usage: { prompt_tokens: number; completion_tokens: number };
  };
  const message = json.choices[0]!.message;
  return {
    text: message.content ?? '',
    prompt: json.usage.prompt_tokens,
    completion: json.usage.completion_tokens,
    ...(message.reasoning_content === undefined ? {} : { reasoning: message.reasoning_content }),
  };
}

/** A message without what differs between two answers to one request (its id). */
function comparable(message: Message): Record<string, unknown> {
  const { id, ...rest } = message as Message & { parsed_output?: unknown };
  assert.match(id, /^msg_/);
  delete (rest as { parsed_output?: unknown }).parsed_output;
  return JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
}

function textOf(message: Message): string {
  return message.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
}

describe('messages - @anthropic-ai/sdk', () => {
  test('create answers with the chat completions text, usage and request-id', async () => {
    await using stack = await startStack();
    const { data, response } = await anthropic(stack)
      .messages.create({ model: 'sim', max_tokens: 30, messages: hello })
      .withResponse();
    const ref = await chatReference(stack, {
      model: 'sim',
      max_tokens: 30,
      messages: [{ role: 'user', content: 'Say hello to the wire.' }],
    });
    assert.equal(data.type, 'message');
    assert.equal(data.role, 'assistant');
    assert.equal(data.model, 'sim');
    assert.match(data.id, /^msg_/);
    assert.deepEqual(data.content, [{ type: 'text', text: ref.text }]);
    assert.equal(data.stop_reason, 'max_tokens');
    assert.equal(data.stop_sequence, null);
    assert.equal(data.usage.input_tokens + (data.usage.cache_read_input_tokens ?? 0), ref.prompt);
    assert.equal(data.usage.output_tokens, 30);
    assert.equal(response.headers.get('request-id'), data.id.slice('msg_'.length));
    assert.equal(
      (data as { _request_id?: string })._request_id,
      response.headers.get('request-id'),
    );
  });

  test('a system prompt (string or text blocks) is the first message', async () => {
    await using stack = await startStack();
    const ref = await chatReference(stack, {
      model: 'sim',
      max_tokens: 20,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Say hello to the wire.' },
      ],
    });
    const plain = await chatReference(stack, {
      model: 'sim',
      max_tokens: 20,
      messages: [{ role: 'user', content: 'Say hello to the wire.' }],
    });
    assert.notEqual(ref.text, plain.text, 'the system prompt changes the answer');
    const client = anthropic(stack);
    const asString = await client.messages.create({
      model: 'sim',
      max_tokens: 20,
      system: 'You are terse.',
      messages: hello,
    });
    assert.equal(textOf(asString), ref.text);
    const asBlocks = await client.messages.create({
      model: 'sim',
      max_tokens: 20,
      system: [{ type: 'text', text: 'You are terse.' }],
      messages: hello,
    });
    assert.equal(textOf(asBlocks), ref.text);
  });

  test('images, documents and tool errors map to the chat content parts they stand for', async () => {
    await using stack = await startStack();
    const png = Buffer.from('not really a png').toString('base64');
    const pdf = Buffer.from('%PDF-1.4 not really').toString('base64');
    const message = await anthropic(stack).messages.create({
      model: 'sim',
      max_tokens: 15,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare these.' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
            {
              type: 'document',
              source: { type: 'text', media_type: 'text/plain', data: 'Notes.' },
            },
            {
              type: 'document',
              title: 'spec.pdf',
              source: { type: 'base64', media_type: 'application/pdf', data: pdf },
            },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: 'no network', is_error: true },
            { type: 'text', text: 'Go on.' },
          ],
        },
      ],
    });
    const ref = await chatReference(stack, {
      model: 'sim',
      max_tokens: 15,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare these.' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
            { type: 'text', text: 'Notes.' },
            {
              type: 'file',
              file: { filename: 'spec.pdf', file_data: `data:application/pdf;base64,${pdf}` },
            },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'toolu_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: 'Error: no network' },
        { role: 'user', content: [{ type: 'text', text: 'Go on.' }] },
      ],
    });
    assert.equal(textOf(message), ref.text);
    assert.equal(
      message.usage.input_tokens + (message.usage.cache_read_input_tokens ?? 0),
      ref.prompt,
    );
  });

  test('stop_sequences end the answer before the stop string: stop_reason stop_sequence', async () => {
    await using stack = await startStack();
    const full = textOf(
      await anthropic(stack).messages.create({ model: 'sim', max_tokens: 40, messages: hello }),
    );
    const words = full.split(' ').filter((w) => /^[a-z]{3,}$/.test(w));
    const stop = ` ${words[Math.floor(words.length / 2)]!}`;
    const message = await anthropic(stack).messages.create({
      model: 'sim',
      max_tokens: 40,
      messages: hello,
      stop_sequences: [stop, 'never-said'],
    });
    assert.equal(textOf(message), full.slice(0, full.indexOf(stop)));
    assert.equal(message.stop_reason, 'stop_sequence');
    assert.equal(message.stop_sequence, stop);
  });

  test('tools: a tool_use block with an input object, then a tool_result gets a text answer', async () => {
    await using stack = await startStack();
    const client = anthropic(stack);
    const ask: MessageParam = { role: 'user', content: 'What does get_weather say for Paris?' };
    const first = await client.messages.create({
      model: 'sim',
      max_tokens: 50,
      tools: [weather, time],
      messages: [ask],
    });
    assert.equal(first.stop_reason, 'tool_use');
    assert.equal(first.content.length, 1);
    const use = first.content[0]!;
    assert.equal(use.type, 'tool_use');
    assert.equal(use.name, 'get_weather');
    assert.match(use.id, /.+/);
    const input = use.input as { city: unknown };
    assert.equal(typeof input.city, 'string');

    const second = await client.messages.create({
      model: 'sim',
      max_tokens: 25,
      tools: [weather, time],
      messages: [
        ask,
        { role: 'assistant', content: first.content },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: use.id, content: 'Sunny, 21 C' }],
        },
      ],
    });
    const ref = await chatReference(stack, {
      model: 'sim',
      max_tokens: 25,
      tools: [weather, time].map((t) => ({
        type: 'function',
        function: { name: t.name, description: t.description, parameters: t.input_schema },
      })),
      messages: [
        { role: 'user', content: ask.content },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: use.id,
              type: 'function',
              function: { name: use.name, arguments: JSON.stringify(use.input) },
            },
          ],
        },
        { role: 'tool', tool_call_id: use.id, content: 'Sunny, 21 C' },
      ],
    });
    assert.equal(second.stop_reason, 'max_tokens');
    assert.equal(textOf(second), ref.text);
    assert.ok(ref.text.length > 0);
  });

  test('tool_choice: any calls every tool, or one without parallel use; tool names one; none answers', async () => {
    await using stack = await startStack();
    const client = anthropic(stack);
    const ask = { role: 'user' as const, content: 'Tell me about Paris.' };
    const base = { model: 'sim', max_tokens: 20, tools: [weather, time], messages: [ask] };
    const any = await client.messages.create({ ...base, tool_choice: { type: 'any' } });
    assert.deepEqual(
      any.content.map((b) => (b.type === 'tool_use' ? b.name : b.type)),
      ['get_weather', 'get_time'],
      'Anthropic uses tools in parallel unless told not to',
    );
    assert.equal(any.stop_reason, 'tool_use');
    const one = await client.messages.create({
      ...base,
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    });
    assert.deepEqual(
      one.content.map((b) => (b.type === 'tool_use' ? b.name : b.type)),
      ['get_weather'],
    );
    const named = await client.messages.create({
      ...base,
      tool_choice: { type: 'tool', name: 'get_time' },
    });
    assert.deepEqual(
      named.content.map((b) => (b.type === 'tool_use' ? b.name : b.type)),
      ['get_time'],
    );
    const input = (named.content[0] as { input: { city: unknown; utc: unknown } }).input;
    assert.equal(typeof input.city, 'string');
    assert.equal(typeof input.utc, 'boolean');
    const none = await client.messages.create({
      ...base,
      messages: [{ role: 'user', content: 'Call get_weather for Paris.' }],
      tool_choice: { type: 'none' },
    });
    assert.equal(none.stop_reason, 'max_tokens');
    assert.deepEqual(
      none.content.map((b) => b.type),
      ['text'],
    );
  });

  test('thinking: a thinking block with a signature before the text', async () => {
    await using stack = await startStack();
    const message = await anthropic(stack).messages.create({
      model: 'sim',
      max_tokens: 1100,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: hello,
    });
    const ref = await chatReference(stack, {
      model: 'sim',
      max_tokens: 1100,
      reasoning_effort: 'low',
      messages: [{ role: 'user', content: 'Say hello to the wire.' }],
    });
    assert.deepEqual(
      message.content.map((b) => b.type),
      ['thinking', 'text'],
    );
    const thinking = message.content[0]!;
    assert.ok(thinking.type === 'thinking');
    assert.equal(thinking.thinking, ref.reasoning);
    assert.match(thinking.signature, /^llmwire-/);
    assert.equal(textOf(message), ref.text);
    assert.equal(message.usage.output_tokens, ref.completion);
    assert.equal(
      (message.usage as { output_tokens_details?: { thinking_tokens: number } })
        .output_tokens_details?.thinking_tokens,
      12,
      "a 1,024-token budget is 'low' effort: the sim thinks 12 tokens",
    );

    // The thinking block goes back in the history as the assistant turn's reasoning.
    const next = await anthropic(stack).messages.create({
      model: 'sim',
      max_tokens: 5,
      messages: [...hello, { role: 'assistant', content: message.content }, ...hello],
    });
    assert.equal(next.stop_reason, 'max_tokens');
  });

  test('stream: text events, and finalMessage() equals the whole create', async () => {
    await using stack = await startStack();
    const client = anthropic(stack);
    const params = {
      model: 'sim',
      max_tokens: 1100,
      thinking: { type: 'enabled' as const, budget_tokens: 1024 },
      system: 'Be brief.',
      messages: hello,
    };
    const whole = await client.messages.create(params);
    const stream = client.messages.stream(params);
    let text = '';
    let thinking = '';
    const events: string[] = [];
    stream.on('text', (delta) => (text += delta));
    stream.on('thinking', (delta) => (thinking += delta));
    stream.on('streamEvent', (event) => events.push(event.type));
    const final = await stream.finalMessage();
    assert.equal(text, textOf(whole));
    assert.equal(thinking, (whole.content[0] as { thinking: string }).thinking);
    assert.deepEqual(comparable(final), comparable(whole));
    assert.equal(events[0], 'message_start');
    assert.deepEqual(events.slice(-2), ['message_delta', 'message_stop']);
    assert.deepEqual(
      events.filter((e) => e.startsWith('content_block_s')),
      ['content_block_start', 'content_block_stop', 'content_block_start', 'content_block_stop'],
    );
  });

  test('streamed tool use: input_json_delta joined gives the same input as create', async () => {
    await using stack = await startStack();
    const client = anthropic(stack);
    const params = {
      model: 'sim',
      max_tokens: 20,
      tools: [weather, time],
      tool_choice: { type: 'any' as const },
      messages: [{ role: 'user' as const, content: 'Paris, please.' }],
    };
    const whole = await client.messages.create(params);
    const stream = client.messages.stream(params);
    const partial = new Map<number, string>();
    stream.on('streamEvent', (event) => {
      if (event.type === 'content_block_delta' && event.delta.type === 'input_json_delta') {
        partial.set(event.index, (partial.get(event.index) ?? '') + event.delta.partial_json);
      }
    });
    const final = await stream.finalMessage();
    assert.deepEqual(comparable(final), comparable(whole));
    assert.equal(final.stop_reason, 'tool_use');
    assert.equal(partial.size, 2);
    for (const [index, json] of partial) {
      assert.deepEqual(JSON.parse(json), (whole.content[index] as { input: unknown }).input);
    }
  });

  test('countTokens gives the prompt tokens a create of the same body counts', async () => {
    await using stack = await startStack();
    const client = anthropic(stack);
    const body = { model: 'sim', system: 'You are terse.', messages: hello, tools: [weather] };
    const count = await client.messages.countTokens(body);
    const message = await client.messages.create({ ...body, max_tokens: 5 });
    assert.deepEqual(count, {
      input_tokens: message.usage.input_tokens + (message.usage.cache_read_input_tokens ?? 0),
    });
  });
});

describe('messages - @ai-sdk/anthropic', () => {
  const provider = (stack: Stack) => createAnthropic({ baseURL: `${stack.url}/v1`, apiKey: 'k' });

  test('generateText and streamText give the chat completions text', async () => {
    await using stack = await startStack();
    const ref = await chatReference(stack, {
      model: 'sim',
      max_tokens: 25,
      messages: [{ role: 'user', content: 'Say hello to the wire.' }],
    });
    const generated = await generateText({
      model: provider(stack)('sim'),
      prompt: 'Say hello to the wire.',
      maxOutputTokens: 25,
    });
    assert.equal(generated.text, ref.text);
    assert.equal(generated.finishReason, 'length');
    assert.equal(generated.usage.outputTokens, 25);
    const streamed = streamText({
      model: provider(stack)('sim'),
      prompt: 'Say hello to the wire.',
      maxOutputTokens: 25,
    });
    let text = '';
    for await (const delta of streamed.textStream) text += delta;
    assert.equal(text, ref.text);
    assert.equal(await streamed.finishReason, 'length');
  });

  test('a tool call is executed and its result answered, whole and streamed', async () => {
    await using stack = await startStack();
    const calls: unknown[] = [];
    const tools = {
      get_weather: tool({
        description: 'The weather in a city',
        inputSchema: jsonSchema<{ city: string }>({
          type: 'object',
          properties: { city: { type: 'string' } },
          required: ['city'],
        }),
        execute: async (input) => {
          calls.push(input);
          return 'Sunny, 21 C';
        },
      }),
    };
    const options = {
      model: provider(stack)('sim'),
      prompt: 'What does get_weather say for Paris?',
      maxOutputTokens: 20,
      tools,
      stopWhen: stepCountIs(2),
    };
    const generated = await generateText(options);
    assert.equal(generated.steps.length, 2);
    assert.equal(generated.steps[0]!.finishReason, 'tool-calls');
    assert.equal(generated.steps[0]!.toolCalls[0]?.toolName, 'get_weather');
    assert.ok(generated.text.length > 0, 'the second step answers in text');
    assert.equal(calls.length, 1);
    assert.equal(typeof (calls[0] as { city: unknown }).city, 'string');

    const streamed = streamText(options);
    let text = '';
    for await (const delta of streamed.textStream) text += delta;
    assert.equal(text, generated.text);
    assert.deepEqual(calls[1], calls[0], 'the same call, streamed');
  });
});
