// The gateway through real HTTP clients: the official openai SDK and curl, against in-process
// sim workers (and, for the abort path, a real OpenAI-style upstream behind an openai backend).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { APIError } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { createOpenAIBackend } from '../../src/llm/backends/openai/index.js';
import { createSimBackend } from '../../src/llm/backends/sim/index.js';
import type { Backend } from '../../src/llm/backends/backend.js';
import { referenceText, startStack } from './stack.js';
import { waitUntil } from '../wait.js';

const run = promisify(execFile);
const hello = [{ role: 'user' as const, content: 'Say hello to the wire.' }];

/** Waits (up to 5 s) until `check` holds. */
const waitFor = (check: () => boolean) => waitUntil(check, 'the condition', 5000, 5);
describe('gateway - OpenAI API', () => {
  test('lists the models of live workers', async () => {
    await using stack = await startStack({ workers: 2 });
    const models = await stack.client().models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['sim'],
    );
    assert.equal(models.data[0]?.object, 'model');
  });

  test('lists each model with the APIs that serve it, in the shape the client asks for', async () => {
    // A backend without embeddings: the sim's chat alone.
    const sim = createSimBackend({ models: ['chatty'] });
    const chatOnly: Backend = {
      kind: 'chat-only',
      models: () => sim.models(),
      generate: (request, options) => sim.generate(request, options),
    };
    await using stack = await startStack({
      backends: [createSimBackend({ models: ['sim'] }), chatOnly],
    });
    const models = await stack.client().models.list();
    const apis = Object.fromEntries(
      models.data.map((m) => [m.id, (m as unknown as { apis: string[] }).apis]),
    );
    assert.deepEqual(apis, {
      chatty: ['chat.completions', 'completions', 'responses', 'messages'],
      sim: ['chat.completions', 'completions', 'responses', 'messages', 'embeddings'],
    });
    const err = await stack
      .client()
      .embeddings.create({ model: 'chatty', input: 'x' })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err instanceof APIError);
    assert.equal(err.status, 503, 'no worker of chatty answers embeddings');

    const anthropic = new Anthropic({ baseURL: stack.url, apiKey: 'none', maxRetries: 0 });
    const page = await anthropic.models.list();
    assert.deepEqual(
      page.data.map((m) => [m.type, m.id]),
      [
        ['model', 'chatty'],
        ['model', 'sim'],
      ],
    );
  });

  test('answers a non-stream chat with the text and usage', async () => {
    await using stack = await startStack();
    const { data, response } = await stack
      .client()
      .chat.completions.create({ model: 'sim', messages: hello, seed: 7 })
      .withResponse();
    const expected = await referenceText({}, { model: 'sim', messages: hello, seed: 7 });
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0]?.message.content, expected);
    assert.equal(data.choices[0]?.message.role, 'assistant');
    assert.ok(['stop', 'length'].includes(data.choices[0].finish_reason));
    assert.ok(data.usage!.completion_tokens > 0);
    assert.equal(
      data.usage!.total_tokens,
      data.usage!.prompt_tokens + data.usage!.completion_tokens,
    );
    assert.match(response.headers.get('x-request-id') ?? '', /.+/);
  });

  test('streams chunks with one id and created, finish_reason last, then usage', async () => {
    await using stack = await startStack();
    const stream = await stack.client().chat.completions.create({
      model: 'sim',
      messages: hello,
      seed: 7,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const ids = new Set(chunks.map((c) => c.id));
    const created = new Set(chunks.map((c) => c.created));
    assert.equal(ids.size, 1);
    assert.equal(created.size, 1);
    assert.equal(chunks[0]?.choices[0]?.delta.role, 'assistant');
    const usageChunk = chunks.at(-1)!;
    assert.deepEqual(usageChunk.choices, []);
    assert.ok(usageChunk.usage!.completion_tokens > 0);
    const last = chunks.at(-2)!;
    assert.ok(['stop', 'length'].includes(last.choices[0]!.finish_reason!));
    for (const c of chunks.slice(0, -2)) assert.equal(c.choices[0]?.finish_reason, null);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    assert.equal(text, await referenceText({}, { model: 'sim', messages: hello, seed: 7 }));
  });

  test('sends raw SSE exactly as OpenAI does (curl)', async () => {
    await using stack = await startStack();
    const body = JSON.stringify({ model: 'sim', messages: hello, stream: true, max_tokens: 3 });
    const { stdout } = await run('curl', [
      '-sN',
      '-H',
      'content-type: application/json',
      '-d',
      body,
      `${stack.url}/v1/chat/completions`,
    ]);
    const events = stdout.split('\n\n').filter((e) => e !== '');
    assert.ok(
      events.every((e) => e.startsWith('data: ')),
      'every event is a data line',
    );
    assert.equal(events.at(-1), 'data: [DONE]');
    const objects = events
      .slice(0, -1)
      .map(
        (e) =>
          JSON.parse(e.slice(6)) as { object: string; choices: { finish_reason: string | null }[] },
      );
    assert.ok(objects.every((o) => o.object === 'chat.completion.chunk'));
    assert.equal(objects.at(-1)?.choices[0]?.finish_reason, 'length');
    assert.equal(objects.length, 1 + 3 + 1, 'role chunk, 3 tokens, finish chunk');
  });

  test('serves /v1/completions, stream and non-stream', async () => {
    await using stack = await startStack();
    const client = stack.client();
    const whole = await client.completions.create({
      model: 'sim',
      prompt: 'Once upon a time',
      seed: 3,
    });
    assert.equal(whole.object, 'text_completion');
    let streamed = '';
    for await (const c of await client.completions.create({
      model: 'sim',
      prompt: 'Once upon a time',
      seed: 3,
      stream: true,
    })) {
      streamed += c.choices[0]?.text ?? '';
    }
    assert.equal(streamed, whole.choices[0]?.text);
    assert.ok(streamed.length > 0);
  });

  test('serves embeddings', async () => {
    await using stack = await startStack();
    const res = await stack
      .client()
      .embeddings.create({ model: 'sim', input: ['a', 'b'], encoding_format: 'float' });
    assert.equal(res.data.length, 2);
    assert.equal(res.data[0]?.embedding.length, 64);
    assert.notDeepEqual(res.data[0]?.embedding, res.data[1]?.embedding);
  });
});

describe('gateway - security defaults', () => {
  test('refuses to listen beyond loopback without API keys', async () => {
    const { createGateway } = await import('../../src/llm/gateway/server.js');
    const { createBus } = await import('../../src/bus/index.js');
    const { createMemoryTransport } = await import('../../src/transport/memory/index.js');
    const bus = createBus({ transport: createMemoryTransport() });
    assert.throws(() => createGateway({ bus, host: '0.0.0.0', port: 0 }), /without API keys/);
    const withKeys = createGateway({
      bus,
      host: '0.0.0.0',
      port: 0,
      apiKeys: { 'a-long-key-1': { name: 't' } },
    });
    assert.ok(withKeys);
    await bus.close();
  });

  test('answers every request with an x-request-id, keeping a valid incoming one', async () => {
    await using stack = await startStack();
    const mine = await fetch(`${stack.url}/v1/models`, {
      headers: { 'x-request-id': 'req-abc.123' },
    });
    assert.equal(mine.headers.get('x-request-id'), 'req-abc.123');
    const error = await fetch(`${stack.url}/v1/nothing`);
    assert.match(error.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const bogus = await fetch(`${stack.url}/v1/models`, {
      headers: { 'x-request-id': 'has spaces' },
    });
    assert.notEqual(bogus.headers.get('x-request-id'), 'has spaces');
  });
});

describe('gateway - errors', () => {
  async function status(p: Promise<unknown>): Promise<APIError> {
    const err = await p.then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof APIError, String(err));
    return err;
  }

  test('400 names the bad field', async () => {
    await using stack = await startStack();
    const err = await status(
      stack.client().chat.completions.create({ model: 'sim', messages: hello, temperature: 7 }),
    );
    assert.equal(err.status, 400);
    assert.equal(err.param, 'temperature');
    assert.equal(err.type, 'invalid_request_error');
    const missing = await status(stack.client().chat.completions.create({ model: 'sim' } as never));
    assert.equal(missing.status, 400);
    assert.equal(missing.param, 'messages');
  });

  test('400 for a body that is not JSON, 404 for an unknown route', async () => {
    await using stack = await startStack();
    const bad = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{nope',
    });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'invalid_message');
    const none = await fetch(`${stack.url}/v2/nothing`);
    assert.equal(none.status, 404);
  });

  test('401 without or with a wrong key, 403 for a model the key may not use', async () => {
    await using stack = await startStack({
      gateway: {
        apiKeys: {
          'key-alpha-123': { name: 'alpha', models: ['other'] },
          'key-beta-1234': { name: 'beta' },
        },
      },
    });
    assert.equal((await status(stack.client('wrong-key').models.list())).status, 401);
    const noKey = await fetch(`${stack.url}/v1/models`);
    assert.equal(noKey.status, 401);
    const forbidden = await status(
      stack.client('key-alpha-123').chat.completions.create({ model: 'sim', messages: hello }),
    );
    assert.equal(forbidden.status, 403);
    const ok = await stack
      .client('key-beta-1234')
      .chat.completions.create({ model: 'sim', messages: hello, max_tokens: 2 });
    assert.equal(ok.choices.length, 1);
  });

  test('404 for a model no worker serves', async () => {
    await using stack = await startStack();
    const err = await status(
      stack.client().chat.completions.create({ model: 'gpt-nothing', messages: hello }),
    );
    assert.equal(err.status, 404);
    assert.equal(err.code, 'not_found');
  });

  test('413 for a body over the limit', async () => {
    await using stack = await startStack({ gateway: { bodyLimitBytes: 2048 } });
    const err = await status(
      stack.client().chat.completions.create({
        model: 'sim',
        messages: [{ role: 'user', content: 'x'.repeat(4096) }],
      }),
    );
    assert.equal(err.status, 413);
  });

  test('503 when the model has no ready worker (the only one is draining)', async () => {
    await using stack = await startStack({ workers: 1, sim: { itlMs: 10 } });
    const client = stack.client();
    const running = client.chat.completions.create({
      model: 'sim',
      messages: hello,
      max_tokens: 40,
    });
    // Conditions, not sleeps: the request is running on the worker, then the gateway has heard
    // that the worker drains.
    const worker = stack.workers[0]!;
    await waitFor(() => worker.stats.inflight === 1);
    const drained = worker.drain(5000);
    await waitFor(() => stack.gateway.registry.get(worker.id)?.status === 'draining');
    const err = await status(client.chat.completions.create({ model: 'sim', messages: hello }));
    assert.equal(err.status, 503);
    assert.equal(err.code, 'unavailable');
    const finished = await running;
    assert.equal(finished.usage?.completion_tokens, 40, 'the draining worker finished what it had');
    await drained;
  });

  test('429 with Retry-After when a tenant is over its requests per minute', async () => {
    await using stack = await startStack({
      gateway: { apiKeys: { 'key-limited-1': { name: 'limited', requestsPerMinute: 2 } } },
    });
    const client = stack.client('key-limited-1');
    for (let i = 0; i < 2; i++)
      await client.chat.completions.create({ model: 'sim', messages: hello, max_tokens: 2 });
    const err = await status(
      client.chat.completions.create({ model: 'sim', messages: hello, max_tokens: 2 }),
    );
    assert.equal(err.status, 429);
    assert.equal(err.code, 'rate_limited');
    const retryAfter = Number(err.headers?.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
  });

  test('429 overloaded when the model queue is full, high priority served first', async () => {
    await using stack = await startStack({
      workers: 1,
      concurrency: 1,
      sim: { itlMs: 20 },
      gateway: { queue: { maxLength: 2 } },
    });
    const client = stack.client();
    const order: string[] = [];
    const ask = (name: string, prio: string) =>
      client.chat.completions
        .create(
          { model: 'sim', messages: hello, max_tokens: 5 },
          { headers: { 'x-llmwire-priority': prio } },
        )
        .then(() => void order.push(name));
    const first = ask('first', 'normal');
    await new Promise((r) => setTimeout(r, 30));
    const low = ask('low', 'low');
    await new Promise((r) => setTimeout(r, 10));
    const high = ask('high', 'high');
    await new Promise((r) => setTimeout(r, 10));
    const err = await status(client.chat.completions.create({ model: 'sim', messages: hello }));
    assert.equal(err.status, 429);
    assert.equal(err.code, 'overloaded');
    assert.ok(Number(err.headers?.get('retry-after')) >= 1);
    await Promise.all([first, low, high]);
    assert.deepEqual(order, ['first', 'high', 'low']);
  });

  test('504 when the deadline passes before the answer', async () => {
    await using stack = await startStack({ sim: { ttftMs: 2000 } });
    const err = await status(
      stack
        .client()
        .chat.completions.create(
          { model: 'sim', messages: hello },
          { headers: { 'x-llmwire-timeout-ms': '100' } },
        ),
    );
    assert.equal(err.status, 504);
    assert.equal(err.code, 'deadline_exceeded');
  });

  test('400 for a malformed priority header', async () => {
    await using stack = await startStack();
    const err = await status(
      stack
        .client()
        .chat.completions.create(
          { model: 'sim', messages: hello },
          { headers: { 'x-llmwire-priority': 'urgent' } },
        ),
    );
    assert.equal(err.status, 400);
    assert.equal(err.param, 'x-llmwire-priority');
  });

  test('a failure after streaming began ends the stream with an error event', async () => {
    await using stack = await startStack({
      workers: 1,
      sim: { itlMs: 1, failure: { crashAfterTokens: 4, mode: 'throw' } },
    });
    const stream = await stack
      .client()
      .chat.completions.create({ model: 'sim', messages: hello, stream: true, max_tokens: 50 });
    let text = '';
    const err = await (async () => {
      for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof APIError, `stream ended with ${String(err)}`);
    assert.equal(err.code, 'worker_lost');
    assert.ok(text.length > 0, 'tokens before the failure arrived');
  });
});

describe('gateway - cancellation and flow control', () => {
  test('a client abort mid-stream reaches the upstream model call', async () => {
    let upstreamClosedEarly = false;
    let sentTokens = 0;
    const upstream = createServer((req, res) => {
      if (req.url?.endsWith('/models')) {
        res.end(
          JSON.stringify({
            object: 'list',
            data: [{ id: 'up', object: 'model', created: 0, owned_by: 'x' }],
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let done = false;
      const timer = setInterval(() => {
        sentTokens++;
        res.write(
          `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'up', choices: [{ index: 0, delta: { content: ' tok' }, finish_reason: null }] })}\n\n`,
        );
        if (sentTokens >= 500) {
          done = true;
          clearInterval(timer);
          res.end('data: [DONE]\n\n');
        }
      }, 10);
      res.on('close', () => {
        clearInterval(timer);
        if (!done) upstreamClosedEarly = true;
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    try {
      const backend = createOpenAIBackend({
        baseURL: `http://127.0.0.1:${port}/v1`,
        models: ['up'],
      });
      await using stack = await startStack({ backends: [backend] });
      const ac = new AbortController();
      const stream = await stack
        .client()
        .chat.completions.create(
          { model: 'up', messages: hello, stream: true },
          { signal: ac.signal },
        );
      let n = 0;
      // The SDK ends the iteration quietly when its own signal aborts it.
      for await (const _ of stream) if (++n === 5) ac.abort();
      assert.equal(n, 5);
      const until = Date.now() + 5000;
      while (!upstreamClosedEarly && Date.now() < until)
        await new Promise((r) => setTimeout(r, 20));
      assert.equal(
        upstreamClosedEarly,
        true,
        'the upstream saw the request closed before it finished',
      );
      assert.ok(sentTokens < 500);
      assert.equal(stack.workers[0]!.stats.cancelled, 1);
    } finally {
      upstream.closeAllConnections();
      await new Promise((r) => upstream.close(r));
    }
  });

  test('a reader that stops reading stalls the worker instead of filling memory', async () => {
    await using stack = await startStack({ workers: 1 });
    const body = JSON.stringify({
      model: 'sim',
      messages: hello,
      stream: true,
      max_tokens: 30_000,
    });
    const req = httpRequest(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    const response = await new Promise<import('node:http').IncomingMessage>((resolve) => {
      req.on('response', resolve);
      req.end(body);
    });
    response.pause();
    const worker = stack.workers[0]!;
    try {
      // Socket buffers and the credit window fill first, which takes longer on a busy machine:
      // wait until the count holds still for a second (or give up after 30 s), then check it
      // stopped short of the end and stays put while the reader is still stalled.
      let t1 = -1;
      for (const until = Date.now() + 30_000; Date.now() < until;) {
        const before = worker.stats.tokens;
        await new Promise((r) => setTimeout(r, 1000));
        if (worker.stats.tokens === before) {
          t1 = before;
          break;
        }
      }
      assert.ok(t1 >= 0 && t1 < 30_000, `worker stopped before the end (${worker.stats.tokens})`);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(worker.stats.tokens, t1, 'no tokens produced while the reader is stalled');
      response.resume();
      await new Promise<void>((resolve) => response.on('end', resolve));
    } finally {
      // A failed check must not leave the stalled stream holding the gateway open.
      if (!response.complete) req.destroy();
    }
    assert.equal(worker.stats.tokens, 30_000);
  });
});

describe('gateway - failover', () => {
  test('a worker lost after some tokens is replaced and the text is whole', async () => {
    const request = { model: 'sim', messages: hello, seed: 11, max_tokens: 40 };
    const expected = await referenceText({}, request);
    await using stack = await startStack({
      workers: 2,
      sim: (i) =>
        i === 0 ? { itlMs: 1, failure: { crashAfterTokens: 7, mode: 'throw' } } : { itlMs: 1 },
      gateway: { routing: { policy: 'round-robin' } },
    });
    for (let i = 0; i < 2; i++) {
      let text = '';
      for await (const c of await stack
        .client()
        .chat.completions.create({ ...request, stream: true })) {
        text += c.choices[0]?.delta.content ?? '';
      }
      assert.equal(text, expected, `request ${i}`);
    }
  });
});
