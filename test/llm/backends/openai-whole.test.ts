// The OpenAI-compatible backend asked for a whole answer (`whole`: the client did not ask for a
// stream): one upstream request without `stream`, read into one delta with the same usage,
// finish reason, tool calls and errors as a streamed answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TokenDelta } from '../../../src/llm/backends/backend.js';
import { createOpenAIBackend } from '../../../src/llm/backends/openai/index.js';
import { AnswerJoiner } from '../../../src/llm/answer.js';
import { WireError, type InferenceRequest } from '../../../src/protocol/index.js';
import { createBus } from '../../../src/bus/index.js';
import { createGateway } from '../../../src/llm/gateway/server.js';
import { createWorker } from '../../../src/llm/worker/worker.js';
import { createMemoryTransport } from '../../../src/transport/memory/index.js';
import { rejection } from './helpers.js';
import { echoScript, startUpstream } from './openai-upstream.js';

const CHAT: InferenceRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };

async function whole(
  baseURL: string,
  request: InferenceRequest,
  signal = new AbortController().signal,
) {
  const backend = createOpenAIBackend({ baseURL, models: ['m'] });
  const stream = backend.generate(request, { signal, whole: true });
  const deltas: TokenDelta[] = [];
  for (;;) {
    const step = await stream.next();
    if (step.done === true) return { deltas, end: step.value };
    deltas.push(step.value);
  }
}

test('openai whole - one upstream request without stream, read into one delta', async () => {
  await using upstream = await startUpstream(() => ({
    kind: 'json',
    body: {
      id: 'c1',
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello there', refusal: null },
          finish_reason: 'length',
        },
      ],
      usage: {
        prompt_tokens: 7,
        completion_tokens: 2,
        total_tokens: 9,
        prompt_tokens_details: { cached_tokens: 3 },
      },
    },
  }));
  const { deltas, end } = await whole(upstream.baseURL, {
    ...CHAT,
    max_tokens: 5,
    stream_options: { include_usage: true },
  });
  assert.deepEqual(deltas, [{ text: 'Hello there' }]);
  assert.deepEqual(end, {
    finish_reason: 'length',
    usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9, cached_tokens: 3 },
  });
  const body = upstream.calls[0]?.body;
  assert.equal(body?.['stream'], false);
  assert.equal('stream_options' in (body ?? {}), false);
  assert.equal(body?.['max_tokens'], 5);
});

test('openai whole - tool calls, reasoning and refusal come as one delta that joins like a stream', async () => {
  await using upstream = await startUpstream(() => ({
    kind: 'json',
    body: {
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            reasoning_content: 'Weather needs a lookup.',
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'weather', arguments: '{"c":1}' },
              },
              { id: 'call_2', type: 'function', function: { name: 'time', arguments: '{}' } },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
    },
  }));
  const { deltas, end } = await whole(upstream.baseURL, CHAT);
  assert.equal(deltas.length, 1);
  const joined = new AnswerJoiner();
  for (const d of deltas) joined.add(d);
  assert.deepEqual(joined.toolCalls(), [
    { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"c":1}' } },
    { id: 'call_2', type: 'function', function: { name: 'time', arguments: '{}' } },
  ]);
  assert.equal(joined.reasoning, 'Weather needs a lookup.');
  assert.equal(end.finish_reason, 'tool_calls');
  // No usage from the upstream: estimated, as for a stream.
  assert.ok(end.usage.prompt_tokens > 0);
});

test('openai whole - plain prompts go to /completions without stream', async () => {
  await using upstream = await startUpstream(() => ({
    kind: 'json',
    body: { choices: [{ index: 0, text: 'upon a time', finish_reason: 'stop' }] },
  }));
  const { deltas, end } = await whole(upstream.baseURL, { model: 'm', prompt: 'Once' });
  assert.deepEqual(deltas, [{ text: 'upon a time' }]);
  assert.equal(end.finish_reason, 'stop');
  assert.equal(upstream.calls[0]?.path, '/v1/completions');
  assert.equal(upstream.calls[0]?.body['stream'], false);
});

test('openai whole - upstream statuses map to the same codes as for a stream', async () => {
  for (const [status, code] of [
    [400, 'invalid_message'],
    [429, 'rate_limited'],
    [503, 'upstream_error'],
  ] as const) {
    await using upstream = await startUpstream(() => ({ kind: 'error', status }));
    const err = await rejection(whole(upstream.baseURL, CHAT));
    assert.ok(err instanceof WireError);
    assert.equal(err.code, code, `status ${status}`);
  }
});

test('openai whole - an answer without a finish reason is an upstream_error', async () => {
  await using upstream = await startUpstream(() => ({
    kind: 'json',
    body: { choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' } }] },
  }));
  const err = await rejection(whole(upstream.baseURL, CHAT));
  assert.ok(err instanceof WireError);
  assert.equal(err.code, 'upstream_error');
});

test('openai whole - a cancelled request closes the upstream connection while it waits', async () => {
  await using upstream = await startUpstream(() => ({ kind: 'hang' }));
  const abort = new AbortController();
  const pending = rejection(whole(upstream.baseURL, CHAT, abort.signal));
  while (upstream.calls.length === 0) await new Promise((r) => setTimeout(r, 5));
  abort.abort();
  const err = await pending;
  assert.ok(err instanceof WireError);
  assert.equal(err.code, 'cancelled');
  assert.equal(await upstream.calls[0]!.closed, true);
});

test('openai whole - through the gateway, a client without stream gets a whole upstream answer and a streaming one a stream', async () => {
  await using upstream = await startUpstream(echoScript(['Hello', ' there']));
  const transport = createMemoryTransport();
  const bus = createBus({ transport, onError: () => undefined });
  const gateway = createGateway({ bus, port: 0 });
  const url = await gateway.listen();
  const worker = createWorker({
    bus,
    id: 'whole-1',
    heartbeatMs: 50,
    backend: createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] }),
  });
  await worker.start();
  try {
    const until = Date.now() + 5000;
    while (gateway.registry.get('whole-1')?.status !== 'ready') {
      if (Date.now() > until) throw new Error('worker did not join');
      await new Promise((r) => setTimeout(r, 10));
    }
    const ask = (stream: boolean) =>
      fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream }),
      });
    const plain = (await (await ask(false)).json()) as {
      choices: { message: { content: string }; finish_reason: string }[];
      usage: { completion_tokens: number };
    };
    assert.equal(plain.choices[0]?.message.content, 'Hello there');
    assert.equal(plain.choices[0]?.finish_reason, 'stop');
    assert.equal(plain.usage.completion_tokens, 2);
    assert.equal(upstream.calls[0]?.body['stream'], false);
    const streamed = await (await ask(true)).text();
    assert.match(streamed, /data: \[DONE\]/);
    assert.equal(upstream.calls[1]?.body['stream'], true);
  } finally {
    await worker.stop();
    await gateway.close();
    await bus.close();
    await transport.close();
  }
});
