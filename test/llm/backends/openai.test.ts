// The OpenAI-compatible backend against a real local HTTP upstream speaking the OpenAI format:
// streaming relay, usage, continuation, embeddings and model discovery.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CONTINUE_INSTRUCTION,
  createOpenAIBackend,
} from '../../../src/llm/backends/openai/index.js';
import { InvalidMessageError, type InferenceRequest } from '../../../src/protocol/index.js';
import { run } from './helpers.js';
import { echoScript, startUpstream } from './openai-upstream.js';

const PIECES = ['Hello', ',', ' wire', ' world', '!'];
const signal = new AbortController().signal;

function chat(extra: Partial<InferenceRequest> = {}): InferenceRequest {
  return { model: 'm', messages: [{ role: 'user', content: 'Say hello' }], ...extra };
}

test('openai - relays a streamed chat answer text for text, with the upstream usage', async () => {
  await using upstream = await startUpstream(echoScript(PIECES));
  const backend = createOpenAIBackend({
    baseURL: upstream.baseURL,
    apiKey: 'sk-test',
    models: ['m'],
    headers: { 'x-tenant': 'acme' },
  });
  const { deltas, end } = await run(backend, chat({ temperature: 0.2, max_tokens: 50 }));
  assert.deepEqual(deltas, PIECES);
  assert.deepEqual(end, {
    finish_reason: 'stop',
    usage: { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16, cached_tokens: 4 },
  });
  const [call] = upstream.calls;
  assert.ok(call !== undefined);
  assert.equal(call.path, '/v1/chat/completions');
  assert.equal(call.headers.authorization, 'Bearer sk-test');
  assert.equal(call.headers['x-tenant'], 'acme');
  assert.equal(call.body['stream'], true);
  assert.deepEqual(call.body['stream_options'], { include_usage: true });
  assert.equal(call.body['temperature'], 0.2);
  assert.equal(call.body['max_tokens'], 50);
  assert.deepEqual(call.body['messages'], chat().messages);
});

test('openai - passes unknown request fields through to the upstream', async () => {
  await using upstream = await startUpstream(echoScript(PIECES));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
  // vLLM sampling extensions are not in the protocol schema but are kept.
  await run(backend, { ...chat(), top_k: 5, repetition_penalty: 1.1 } as InferenceRequest);
  assert.equal(upstream.calls[0]?.body['top_k'], 5);
  assert.equal(upstream.calls[0]?.body['repetition_penalty'], 1.1);
  assert.equal('continue_from' in (upstream.calls[0]?.body ?? {}), false);
});

test('openai - relays plain prompt requests through /completions', async () => {
  await using upstream = await startUpstream(echoScript(PIECES));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
  const { text, end } = await run(backend, { model: 'm', prompt: 'Once', max_tokens: 9 });
  assert.equal(text, PIECES.join(''));
  assert.equal(end.finish_reason, 'stop');
  assert.equal(upstream.calls[0]?.path, '/v1/completions');
  assert.equal(upstream.calls[0]?.body['prompt'], 'Once');
});

test('openai - counts usage itself when the upstream sends none', async () => {
  await using upstream = await startUpstream(echoScript(PIECES, false));
  const backend = createOpenAIBackend({
    baseURL: upstream.baseURL,
    models: ['m'],
    streamUsage: false,
  });
  const { end } = await run(backend, chat());
  assert.equal('stream_options' in (upstream.calls[0]?.body ?? {}), false);
  // promptText is "<|user|>Say hello\n" (18 chars); the answer is 18 chars.
  assert.deepEqual(end.usage, { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 });
});

test('openai - relays the finish reason: length, and function_call as tool_calls', async () => {
  for (const [upstreamFinish, expected] of [
    ['length', 'length'],
    ['function_call', 'tool_calls'],
    ['eos', 'stop'],
  ] as const) {
    await using upstream = await startUpstream(() => ({
      kind: 'stream',
      pieces: ['a'],
      finish: upstreamFinish,
    }));
    const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
    const { end } = await run(backend, chat());
    assert.equal(end.finish_reason, expected);
  }
});

test('openai - init discovers the models with GET /models when none are configured', async () => {
  await using upstream = await startUpstream(echoScript(PIECES));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL });
  assert.deepEqual(backend.models(), []);
  await backend.init();
  assert.deepEqual(backend.models(), ['m-one', 'm-two']);
  assert.equal(upstream.calls[0]?.method, 'GET');
  assert.equal(upstream.calls[0]?.path, '/v1/models');
  const configured = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['x'] });
  await configured.init();
  assert.equal(upstream.calls.length, 1);
});

test('openai - continue_from becomes an assistant message and a request to go on', async () => {
  await using upstream = await startUpstream(echoScript([' world', '!'], false));
  const sent = 'Hello,';
  const instruct = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
  const { end } = await run(instruct, chat({ continue_from: sent }));
  assert.deepEqual(upstream.calls[0]?.body['messages'], [
    ...(chat().messages ?? []),
    { role: 'assistant', content: sent },
    { role: 'user', content: CONTINUE_INSTRUCTION },
  ]);
  // The whole answer's tokens: the 7 new characters plus the 6 sent before, estimated.
  assert.equal(end.usage.completion_tokens, Math.ceil(7 / 4) + Math.ceil(6 / 4));

  const vllm = createOpenAIBackend({
    baseURL: upstream.baseURL,
    models: ['m'],
    continuation: 'final-message',
  });
  await run(vllm, chat({ continue_from: sent }));
  const body = upstream.calls[1]?.body ?? {};
  assert.deepEqual(body['messages'], [
    ...(chat().messages ?? []),
    { role: 'assistant', content: sent },
  ]);
  assert.equal(body['continue_final_message'], true);
  assert.equal(body['add_generation_prompt'], false);

  await run(instruct, { model: 'm', prompt: 'Say hello: ', continue_from: sent });
  assert.equal(upstream.calls[2]?.body['prompt'], 'Say hello: Hello,');
});

test('openai - n > 1 and several prompts are refused before any upstream call', async () => {
  await using upstream = await startUpstream(echoScript(PIECES));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
  await assert.rejects(run(backend, chat({ n: 2 })), InvalidMessageError);
  await assert.rejects(run(backend, { model: 'm', prompt: ['a', 'b'] }), InvalidMessageError);
  assert.equal(upstream.calls.length, 0);
});

test('openai - embeddings go to /embeddings as floats', async () => {
  await using upstream = await startUpstream(echoScript(PIECES));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['e'] });
  const result = await backend.embed(
    { model: 'e', input: ['one', 'two'], dimensions: 4 },
    { signal },
  );
  assert.equal(upstream.calls[0]?.path, '/v1/embeddings');
  assert.equal(upstream.calls[0]?.body['encoding_format'], 'float');
  assert.equal(upstream.calls[0]?.body['dimensions'], 4);
  assert.equal(result.model, 'e');
  assert.deepEqual(
    result.data.map((d) => d.index),
    [0, 1],
  );
  assert.deepEqual(result.data[1]?.embedding, [2 / 2, 2 / 3, 2 / 4, 2 / 5]);
  assert.deepEqual(result.usage, { prompt_tokens: 4, total_tokens: 4 });
});

test('openai - tools, tool_choice, response_format and reasoning_effort reach the upstream unchanged', async () => {
  await using upstream = await startUpstream(echoScript(PIECES));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
  const tools: InferenceRequest['tools'] = [
    {
      type: 'function',
      function: { name: 'get_weather', parameters: { type: 'object' }, strict: true },
    },
  ];
  const responseFormat: InferenceRequest['response_format'] = {
    type: 'json_schema',
    json_schema: { name: 'r', schema: { type: 'object' } },
  };
  const history: InferenceRequest['messages'] = [
    { role: 'user', content: 'Weather?' },
    {
      role: 'assistant',
      content: null,
      reasoning: 'Call the tool.',
      tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
  ];
  await run(backend, {
    model: 'm',
    messages: history,
    tools,
    tool_choice: 'required',
    parallel_tool_calls: false,
    response_format: responseFormat,
    reasoning_effort: 'low',
  });
  const body = upstream.calls[0]!.body;
  assert.deepEqual(body['tools'], tools);
  assert.equal(body['tool_choice'], 'required');
  assert.equal(body['parallel_tool_calls'], false);
  assert.deepEqual(body['response_format'], responseFormat);
  assert.equal(body['reasoning_effort'], 'low');
  // The history's reasoning is llmwire's own: OpenAI's messages have no such field.
  const { reasoning: _reasoning, ...assistant } = history[1]!;
  assert.deepEqual(body['messages'], [history[0], assistant, history[2]]);
});

test('openai - reasoning or a tool call begun by another worker cannot be continued upstream', async () => {
  await using upstream = await startUpstream(echoScript(PIECES));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
  for (const extra of [
    { continue_reasoning: 'Thinking' },
    {
      continue_tool_calls: [
        { id: 'c', type: 'function' as const, function: { name: 'f', arguments: '{"a' } },
      ],
    },
  ]) {
    await assert.rejects(run(backend, chat(extra)), InvalidMessageError);
  }
  assert.equal(upstream.calls.length, 0, 'nothing was sent upstream');
});
