// The OpenAI Responses API through the official openai SDK and the Vercel AI SDK's default
// OpenAI provider, against in-process sim workers: whole, streamed (every event in order),
// tools, structured output, reasoning, stored and chained responses, background responses,
// tenants, hostile bodies, and the gateway's one path (cancel, deadline, failover).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI, { APIError } from 'openai';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, streamText, tool } from 'ai';
import type { InferenceRequest } from '../../src/protocol/index.js';
import { processResponseRecords } from '../../src/llm/gateway/responses/index.js';
import { referenceText, startStack, type Stack } from './stack.js';

const weather = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Weather in a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1, maximum: 7 } },
    required: ['city', 'days'],
    additionalProperties: false,
  },
  strict: true,
};

/** The chat completion the same conversation gets: what a response's text must equal. */
async function chatText(stack: Stack, request: Omit<InferenceRequest, 'model'>): Promise<string> {
  const done = await stack.client().chat.completions.create({
    model: 'sim',
    ...request,
  } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  return done.choices[0]!.message.content ?? '';
}

async function failure(promise: Promise<unknown>): Promise<APIError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof APIError, `expected an APIError, got ${String(err)}`);
  return err;
}

async function waitFor<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const until = Date.now() + 10_000;
  for (;;) {
    const value = await get();
    if (ok(value)) return value;
    if (Date.now() > until) throw new Error(`${what}: not in 10 s (last ${JSON.stringify(value)})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('responses - whole and streamed', () => {
  test('a text input gets the answer the same chat gets, with usage', async () => {
    await using stack = await startStack({ workers: 1 });
    const r = await stack.client().responses.create({ model: 'sim', input: 'Hello, wire.' });
    assert.equal(r.object, 'response');
    assert.match(r.id, /^resp_[0-9a-f]{32}$/);
    assert.equal(r.status, 'completed');
    const expected = await chatText(stack, {
      messages: [{ role: 'user', content: 'Hello, wire.' }],
    });
    assert.equal(r.output_text, expected);
    assert.equal(r.output.length, 1);
    assert.equal(r.output[0]!.type, 'message');
    assert.ok(r.usage !== undefined && r.usage !== null);
    assert.ok(r.usage.output_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
  });

  test('instructions lead as a system message; items carry roles and content parts', async () => {
    await using stack = await startStack({ workers: 1 });
    const r = await stack.client().responses.create({
      model: 'sim',
      instructions: 'Answer as a wire.',
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'First question.' }] },
        { role: 'assistant', content: 'First answer.' },
        { type: 'message', role: 'user', content: 'Second question.' },
      ],
    });
    const expected = await chatText(stack, {
      messages: [
        { role: 'system', content: 'Answer as a wire.' },
        { role: 'user', content: [{ type: 'text', text: 'First question.' }] },
        { role: 'assistant', content: 'First answer.' },
        { role: 'user', content: 'Second question.' },
      ],
    });
    assert.equal(r.output_text, expected);
  });

  test('max_output_tokens ends the response incomplete, as OpenAI reports it', async () => {
    await using stack = await startStack({ workers: 1 });
    const r = await stack
      .client()
      .responses.create({ model: 'sim', input: 'Go on and on.', max_output_tokens: 5 });
    assert.equal(r.status, 'incomplete');
    assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(r.usage?.output_tokens, 5);
  });

  test('a stream sends every event in order and its deltas make the whole response', async () => {
    await using stack = await startStack({ workers: 1, sim: { itlMs: 1 } });
    const whole = await stack.client().responses.create({ model: 'sim', input: 'Stream it.' });
    const stream = await stack
      .client()
      .responses.create({ model: 'sim', input: 'Stream it.', stream: true });
    const types: string[] = [];
    let text = '';
    let seq = -1;
    let completed: OpenAI.Responses.Response | undefined;
    const done: string[] = [];
    for await (const ev of stream) {
      assert.equal(ev.sequence_number, seq + 1, 'sequence numbers count up from 0');
      seq = ev.sequence_number;
      types.push(ev.type);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.output_text.done') done.push(ev.text);
      if (ev.type === 'response.content_part.done' && ev.part.type === 'output_text') {
        done.push(ev.part.text);
      }
      if (ev.type === 'response.completed') completed = ev.response;
    }
    assert.deepEqual(done, [text, text], 'the done events carry the whole text');
    const deltas = types.filter((t) => t === 'response.output_text.delta').length;
    assert.ok(deltas > 1);
    assert.deepEqual(types, [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array<string>(deltas).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    assert.equal(text, whole.output_text);
    assert.ok(completed !== undefined);
    assert.equal(completed.status, 'completed');
    assert.deepEqual(completed.usage, whole.usage);
    const message = completed.output[0] as OpenAI.Responses.ResponseOutputMessage;
    assert.equal((message.content[0] as OpenAI.Responses.ResponseOutputText).text, text);
  });

  test("the SDK's responses.stream() helper gets the final response", async () => {
    await using stack = await startStack({ workers: 1 });
    const runner = stack.client().responses.stream({ model: 'sim', input: 'Helper.' });
    let text = '';
    runner.on('response.output_text.delta', (ev) => (text += ev.delta));
    const final = await runner.finalResponse();
    assert.equal(final.output_text, text);
    assert.ok(text.length > 0);
  });

  test('reasoning comes first as a reasoning item, counted in usage', async () => {
    await using stack = await startStack({ workers: 1 });
    const r = await stack
      .client()
      .responses.create({ model: 'sim', input: 'Think first.', reasoning: { effort: 'low' } });
    assert.deepEqual(
      r.output.map((o) => o.type),
      ['reasoning', 'message'],
    );
    const reasoning = r.output[0] as OpenAI.Responses.ResponseReasoningItem;
    assert.ok((reasoning.content?.[0]?.text ?? '').length > 0);
    assert.equal(r.usage?.output_tokens_details.reasoning_tokens, 12);
    const summary = await stack.client().responses.create({
      model: 'sim',
      input: 'Think first.',
      reasoning: { effort: 'low', summary: 'auto' },
    });
    const item = summary.output[0] as OpenAI.Responses.ResponseReasoningItem;
    assert.equal(item.summary[0]?.text, reasoning.content?.[0]?.text, 'a summary asked for');
  });

  test('text.format json_schema gets JSON that fits the schema', async () => {
    await using stack = await startStack({ workers: 1 });
    const r = await stack.client().responses.create({
      model: 'sim',
      input: 'Give me a city.',
      text: {
        format: {
          type: 'json_schema',
          name: 'city',
          strict: true,
          schema: {
            type: 'object',
            properties: { name: { type: 'string' }, population: { type: 'integer' } },
            required: ['name', 'population'],
            additionalProperties: false,
          },
        },
      },
    });
    const value = JSON.parse(r.output_text) as { name: unknown; population: unknown };
    assert.equal(typeof value.name, 'string');
    assert.ok(Number.isInteger(value.population));
  });
});

describe('responses - tools', () => {
  test('a named tool is called; its output chained by previous_response_id gets an answer', async () => {
    await using stack = await startStack({ workers: 1 });
    const client = stack.client();
    const first = await client.responses.create({
      model: 'sim',
      input: 'What is the weather in Oslo? Use get_weather.',
      tools: [weather],
    });
    assert.equal(first.status, 'completed');
    const call = first.output.find((o) => o.type === 'function_call');
    assert.ok(call !== undefined && call.type === 'function_call', 'a function_call item');
    assert.equal(call.name, 'get_weather');
    assert.match(call.call_id, /^call_/);
    const args = JSON.parse(call.arguments) as { city: unknown; days: unknown };
    assert.equal(typeof args.city, 'string');
    assert.ok(Number.isInteger(args.days) && (args.days as number) >= 1);

    const second = await client.responses.create({
      model: 'sim',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temp": 3}' }],
      tools: [weather],
    });
    assert.equal(second.status, 'completed');
    assert.deepEqual(
      second.output.map((o) => o.type),
      ['message'],
    );
    const expected = await chatText(stack, {
      messages: [
        { role: 'user', content: 'What is the weather in Oslo? Use get_weather.' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: call.call_id,
              type: 'function',
              function: { name: call.name, arguments: call.arguments },
            },
          ],
        },
        { role: 'tool', tool_call_id: call.call_id, content: '{"temp": 3}' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: weather.name,
            parameters: weather.parameters,
            description: weather.description,
            strict: true,
          },
        },
      ],
      parallel_tool_calls: true,
    });
    assert.equal(second.output_text, expected, 'the chain is the whole conversation');
  });

  test('tool_choice required, named and none; parallel calls by default', async () => {
    await using stack = await startStack({ workers: 1 });
    const client = stack.client();
    const other = { ...weather, name: 'get_time', description: 'Time in a city' };
    const calls = async (body: Partial<OpenAI.Responses.ResponseCreateParamsNonStreaming>) =>
      (
        await client.responses.create({
          model: 'sim',
          input: 'Hello.',
          tools: [weather, other],
          ...body,
        })
      ).output
        .filter((o) => o.type === 'function_call')
        .map((o) => o.name);
    assert.deepEqual(await calls({ tool_choice: 'required' }), ['get_weather', 'get_time']);
    assert.deepEqual(await calls({ tool_choice: 'required', parallel_tool_calls: false }), [
      'get_weather',
    ]);
    assert.deepEqual(await calls({ tool_choice: { type: 'function', name: 'get_time' } }), [
      'get_time',
    ]);
    assert.deepEqual(await calls({ tool_choice: 'none', input: 'Use get_weather.' }), []);
    assert.deepEqual(await calls({ tool_choice: 'auto' }), [], 'auto: no tool named');
  });

  test('streamed function calls: item added with name and call_id, argument deltas, done', async () => {
    await using stack = await startStack({ workers: 1, sim: { itlMs: 1 } });
    const client = stack.client();
    const body = {
      model: 'sim',
      input: 'Weather?',
      tools: [weather],
      tool_choice: 'required' as const,
    };
    const whole = await client.responses.create(body);
    const types: string[] = [];
    let args = '';
    let added: OpenAI.Responses.ResponseFunctionToolCall | undefined;
    let done: OpenAI.Responses.ResponseFunctionCallArgumentsDoneEvent | undefined;
    for await (const ev of await client.responses.create({ ...body, stream: true })) {
      types.push(ev.type);
      if (ev.type === 'response.output_item.added' && ev.item.type === 'function_call') {
        added = ev.item;
      }
      if (ev.type === 'response.function_call_arguments.delta') args += ev.delta;
      if (ev.type === 'response.function_call_arguments.done') done = ev;
    }
    const call = whole.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
    assert.equal(added?.name, 'get_weather');
    assert.equal(added?.call_id, call.call_id);
    assert.equal(args, call.arguments);
    assert.equal(done?.arguments, call.arguments);
    assert.equal(types.at(-1), 'response.completed');
    assert.equal(types.filter((t) => t === 'response.function_call_arguments.done').length, 1);
  });
});

describe('responses - stored, chained, background', () => {
  test('a stored response can be retrieved, its input listed, and deleted', async () => {
    await using stack = await startStack({ workers: 1 });
    const client = stack.client();
    const r = await client.responses.create({
      model: 'sim',
      input: [
        { role: 'user', content: 'One.' },
        { role: 'user', content: 'Two.' },
      ],
      metadata: { ticket: 'T-1' },
    });
    const got = await client.responses.retrieve(r.id);
    assert.equal(got.id, r.id);
    assert.equal(got.output_text, r.output_text);
    assert.deepEqual(got.metadata, { ticket: 'T-1' });
    const items = await client.responses.inputItems.list(r.id, { order: 'asc' });
    assert.deepEqual(
      items.data.map((i) =>
        i.type === 'message' ? (i.content[0] as { text: string }).text : undefined,
      ),
      ['One.', 'Two.'],
    );
    const deleted = (await client.responses.delete(r.id)) as unknown;
    assert.deepEqual(deleted, { id: r.id, object: 'response', deleted: true });
    assert.equal((await failure(client.responses.retrieve(r.id))).status, 404);
  });

  test('store: false keeps nothing, so nothing can chain on it', async () => {
    await using stack = await startStack({ workers: 1 });
    const client = stack.client();
    const r = await client.responses.create({ model: 'sim', input: 'Forget me.', store: false });
    assert.equal((r as unknown as { store: boolean }).store, false);
    assert.equal((await failure(client.responses.retrieve(r.id))).status, 404);
    const err = await failure(
      client.responses.create({ model: 'sim', input: 'And?', previous_response_id: r.id }),
    );
    assert.equal(err.status, 404);
    assert.equal(err.param, 'previous_response_id');
  });

  test('chaining three turns sends the whole conversation, instructions not carried over', async () => {
    await using stack = await startStack({ workers: 1 });
    const client = stack.client();
    const one = await client.responses.create({
      model: 'sim',
      input: 'One.',
      instructions: 'Be a wire.',
    });
    const two = await client.responses.create({
      model: 'sim',
      input: 'Two.',
      previous_response_id: one.id,
    });
    const three = await client.responses.create({
      model: 'sim',
      input: 'Three.',
      previous_response_id: two.id,
    });
    const expected = await chatText(stack, {
      messages: [
        { role: 'user', content: 'One.' },
        { role: 'assistant', content: one.output_text },
        { role: 'user', content: 'Two.' },
        { role: 'assistant', content: two.output_text },
        { role: 'user', content: 'Three.' },
      ],
    });
    assert.equal(three.output_text, expected);
    assert.equal(three.previous_response_id, two.id);
  });

  test('a background response is queued, runs without the client, and can be polled', async () => {
    await using stack = await startStack({ workers: 1, sim: { itlMs: 2 } });
    const client = stack.client();
    const queued = await client.responses.create({
      model: 'sim',
      input: 'Later.',
      background: true,
    });
    assert.equal(queued.status, 'queued');
    assert.equal(queued.background, true);
    const done = await waitFor(
      'the background response to complete',
      () => client.responses.retrieve(queued.id),
      (r) => r.status === 'completed',
    );
    const expected = await chatText(stack, { messages: [{ role: 'user', content: 'Later.' }] });
    assert.equal(done.output_text, expected);
  });

  test('cancelling a background response stops the model call', async () => {
    await using stack = await startStack({ workers: 1, sim: { itlMs: 50 } });
    const client = stack.client();
    const queued = await client.responses.create({
      model: 'sim',
      input: 'A long one.',
      background: true,
      max_output_tokens: 2000,
    });
    await waitFor(
      'the worker to start',
      async () => stack.workers[0]!.stats.inflight,
      (n) => n === 1,
    );
    const cancelled = await client.responses.cancel(queued.id);
    assert.equal(cancelled.status, 'cancelled');
    await waitFor(
      'the worker to see the cancel',
      async () => stack.workers[0]!.stats.cancelled,
      (n) => n === 1,
    );
    const err = await failure(
      client.responses.cancel((await client.responses.create({ model: 'sim', input: 'x' })).id),
    );
    assert.equal(err.status, 400, 'only background responses can be cancelled');

    // Deleting a running background response stops it, and it stays deleted.
    const running = await client.responses.create({
      model: 'sim',
      input: 'Another long one.',
      background: true,
      max_output_tokens: 2000,
    });
    await waitFor(
      'the worker to start',
      async () => stack.workers[0]!.stats.inflight,
      (n) => n === 1,
    );
    await client.responses.delete(running.id);
    await waitFor(
      'the worker to see the cancel',
      async () => stack.workers[0]!.stats.cancelled,
      (n) => n === 2,
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await failure(client.responses.retrieve(running.id))).status, 404);
  });
});

describe('responses - several gateways on one bus', () => {
  test('a background response runs on one gateway and is cancelled through another', async () => {
    await using stack = await startStack({ workers: 1, sim: { itlMs: 50 } });
    // A second gateway on the same bus, sharing the first one's stored responses.
    const records = processResponseRecords();
    const { createGateway } = await import('../../src/llm/gateway/server.js');
    const first = createGateway({ bus: stack.bus, port: 0, responseStore: records });
    const second = createGateway({ bus: stack.bus, port: 0, responseStore: records });
    try {
      const [a, b] = (await Promise.all([first.listen(), second.listen()])).map(
        (url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none', maxRetries: 0 }),
      );
      for (const g of [first, second]) {
        await waitFor(
          'the worker to join',
          async () => g.registry.models(),
          (m) => m.length > 0,
        );
      }
      const queued = await a!.responses.create({
        model: 'sim',
        input: 'A long one.',
        background: true,
        max_output_tokens: 2000,
      });
      await waitFor(
        'the worker to start',
        async () => stack.workers[0]!.stats.inflight,
        (n) => n === 1,
      );
      const cancelled = await b!.responses.cancel(queued.id);
      assert.equal(cancelled.status, 'cancelled', 'the other gateway stopped it');
      await waitFor(
        'the worker to see the cancel',
        async () => stack.workers[0]!.stats.cancelled,
        (n) => n === 1,
      );
    } finally {
      await first.close();
      await second.close();
    }
  });
});

describe('responses - tenants and roles', () => {
  const gateway = {
    apiKeys: { 'key-a': { name: 'tenant-a' }, 'key-b': { name: 'tenant-b' } },
  };

  test("another tenant can neither see, delete, cancel nor chain on a tenant's response", async () => {
    await using stack = await startStack({ workers: 1, gateway, sim: { itlMs: 5 } });
    const a = stack.client('key-a');
    const b = stack.client('key-b');
    const r = await a.responses.create({ model: 'sim', input: 'Mine.' });
    // Long enough (300 tokens at 5 ms) to still run while the other tenant tries.
    const bg = await a.responses.create({
      model: 'sim',
      input: 'Mine too.',
      background: true,
      max_output_tokens: 300,
    });
    for (const attempt of [
      () => b.responses.retrieve(r.id),
      () => b.responses.delete(r.id),
      () => b.responses.cancel(bg.id),
      () => b.responses.inputItems.list(r.id),
      () => b.responses.create({ model: 'sim', input: 'Yours?', previous_response_id: r.id }),
    ]) {
      const err = await failure(attempt());
      assert.equal(err.status, 404, 'as if it did not exist');
      assert.equal(err.code, 'not_found');
    }
    assert.equal((await a.responses.retrieve(r.id)).id, r.id, 'the owner still has it');
    const done = await waitFor(
      "the owner's background response to finish",
      () => a.responses.retrieve(bg.id),
      (got) => got.status !== 'queued' && got.status !== 'in_progress',
    );
    assert.equal(
      done.status,
      'incomplete',
      "ran to its token limit: another tenant's delete and cancel stopped nothing",
    );
  });

  test('no key, a wrong key and an observer credential are refused', async () => {
    const { IdentityTable } = await import('../../src/llm/security/identities.js');
    const identities = new IdentityTable([
      { key: 'client-key', identity: { name: 'c', role: 'client' } },
      { key: 'observer-key', identity: { name: 'o', role: 'observer' } },
    ]);
    await using stack = await startStack({ workers: 1, gateway: { identities } });
    const r = await stack.client('client-key').responses.create({ model: 'sim', input: 'Hi.' });
    assert.equal((await failure(stack.client('wrong').responses.retrieve(r.id))).status, 401);
    const observer = stack.client('observer-key');
    assert.equal((await failure(observer.responses.retrieve(r.id))).status, 403);
    assert.equal(
      (await failure(observer.responses.create({ model: 'sim', input: 'Hi.' }))).status,
      403,
    );
  });
});

describe('responses - hostile bodies', () => {
  test('each gets a 400 in OpenAI error JSON naming the field, and the gateway keeps serving', async () => {
    await using stack = await startStack({ workers: 1 });
    const post = (body: string, type = 'application/json') =>
      fetch(`${stack.url}/v1/responses`, {
        method: 'POST',
        headers: { 'content-type': type },
        body,
      });
    const cases: [string, string | null, string?][] = [
      ['{"model":"sim","input":"x","nope":1}', 'nope'],
      ['{"model":"sim","input":7}', 'input'],
      ['{"model":"sim"}', 'input'],
      ['{"model":"sim","input":[]}', 'input'],
      ['{"model":"sim","input":[{"type":"computer_call"}]}', 'input.0'],
      ['{"model":"sim","input":[{"role":"root","content":"x"}]}', 'input.0.role'],
      [
        '{"model":"sim","input":[{"role":"user","content":[{"type":"output_text","text":"x"}]}]}',
        'input.0.content.0',
      ],
      [
        '{"model":"sim","input":[{"role":"user","content":[{"type":"input_image","file_id":"f"}]}]}',
        'input.0.content.0',
      ],
      ['{"model":"sim","input":[{"type":"function_call_output","output":"x"}]}', 'input.0.call_id'],
      ['{"model":"sim","input":"x","tools":[{"type":"web_search"}]}', 'tools.0'],
      [
        '{"model":"sim","input":"x","tools":[{"type":"function","name":"bad name"}]}',
        'tools.0.name',
      ],
      ['{"model":"sim","input":"x","tool_choice":{"type":"mcp"}}', 'tool_choice'],
      ['{"model":"sim","input":"x","conversation":"conv_1"}', 'conversation'],
      ['{"model":"sim","input":"x","background":true,"store":false}', 'store'],
      ['{"model":"sim","input":"x","temperature":9}', 'temperature'],
      ['{"model":"sim","input":"x","metadata":{"k":7}}', 'metadata'],
      ['{"model":"sim","input":"x","previous_response_id":"resp_nope"}', 'previous_response_id'],
      [`{"model":"sim","input":"x","extra":${'['.repeat(200)}${']'.repeat(200)}}`, 'extra'],
      ['{"model":"sim",', null],
      ['[1,2]', null],
      ['model=sim', 'content-type', 'text/plain'],
    ];
    for (const [body, param, type] of cases) {
      const res = await post(body, type);
      const json = (await res.json()) as {
        error: { message: string; param: string | null; type: string };
      };
      assert.ok(
        res.status === 400 || res.status === 404 || res.status === 415,
        `${body}: ${res.status}`,
      );
      assert.equal(json.error.param, param, `${body.slice(0, 80)} -> ${json.error.message}`);
      assert.ok(json.error.message.length > 0);
    }
    const ok = await stack.client().responses.create({ model: 'sim', input: 'Still here?' });
    assert.equal(ok.status, 'completed');
  });

  test('a response id that is not one, or a bad escape, is a 404', async () => {
    await using stack = await startStack({ workers: 1 });
    for (const path of ['resp_%zz', '..%2F..%2Fetc', 'resp_' + 'a'.repeat(300)]) {
      const res = await fetch(`${stack.url}/v1/responses/${path}`);
      assert.equal(res.status, 404, path);
    }
  });
});

describe('responses - the one path: cancel, deadline, failover', () => {
  test('a client abort mid-stream reaches the model call', async () => {
    await using stack = await startStack({ workers: 1, sim: { itlMs: 20 } });
    const ac = new AbortController();
    const stream = await stack
      .client()
      .responses.create(
        { model: 'sim', input: 'Long.', stream: true, max_output_tokens: 2000 },
        { signal: ac.signal },
      );
    let n = 0;
    for await (const ev of stream)
      if (ev.type === 'response.output_text.delta' && ++n === 5) ac.abort();
    assert.equal(n, 5);
    await waitFor(
      'the cancel to reach the worker',
      async () => stack.workers[0]!.stats.cancelled,
      (c) => c === 1,
    );
  });

  test('a deadline mid-stream ends it with response.failed, deadline_exceeded', async () => {
    await using stack = await startStack({ workers: 1, sim: { itlMs: 50 } });
    const stream = await stack
      .client()
      .responses.create(
        { model: 'sim', input: 'Long.', stream: true, max_output_tokens: 2000 },
        { headers: { 'x-llmwire-timeout-ms': '400' } },
      );
    let failed: OpenAI.Responses.ResponseFailedEvent | undefined;
    for await (const ev of stream) if (ev.type === 'response.failed') failed = ev;
    assert.equal(failed?.response.status, 'failed');
    assert.equal(failed?.response.error?.code, 'deadline_exceeded');
    const stored = await stack.client().responses.retrieve(failed.response.id);
    assert.equal(stored.status, 'failed', 'the failure is stored too');
  });

  test('a worker lost mid-stream is replaced: text, then tool-call arguments, whole and once', async () => {
    await using stack = await startStack({
      workers: 2,
      sim: (i) =>
        i === 0 ? { itlMs: 1, failure: { crashAfterTokens: 6, mode: 'throw' } } : { itlMs: 1 },
      gateway: { routing: { policy: 'round-robin' } },
    });
    const client = stack.client();
    const expected = await referenceText(
      {},
      {
        model: 'sim',
        messages: [{ role: 'user', content: 'A story.' }],
        max_completion_tokens: 40,
      },
    );
    const toolBody = {
      model: 'sim',
      input: 'Weather?',
      tools: [weather],
      tool_choice: 'required' as const,
      reasoning: { effort: 'low' as const },
    };
    for (let i = 0; i < 2; i++) {
      let text = '';
      for await (const ev of await client.responses.create({
        model: 'sim',
        input: 'A story.',
        max_output_tokens: 40,
        stream: true,
      })) {
        if (ev.type === 'response.output_text.delta') text += ev.delta;
      }
      assert.equal(text, expected, `text stream ${i}`);
    }
    const whole = await client.responses.create({ ...toolBody });
    for (let i = 0; i < 2; i++) {
      let args = '';
      let reasoning = '';
      for await (const ev of await client.responses.create({ ...toolBody, stream: true })) {
        if (ev.type === 'response.function_call_arguments.delta') args += ev.delta;
        if (ev.type === 'response.reasoning_text.delta') reasoning += ev.delta;
      }
      const call = whole.output.find(
        (o) => o.type === 'function_call',
      ) as OpenAI.Responses.ResponseFunctionToolCall;
      const thought = whole.output.find(
        (o) => o.type === 'reasoning',
      ) as OpenAI.Responses.ResponseReasoningItem;
      assert.equal(reasoning, thought.content?.[0]?.text, `reasoning stream ${i}`);
      assert.equal(args, call.arguments, `tool-call stream ${i}`);
    }
  });
});

describe('responses - Vercel AI SDK default provider', () => {
  test('generateText, streamText and a tool call through provider(model)', async () => {
    await using stack = await startStack({ workers: 1 });
    const provider = createOpenAI({ baseURL: `${stack.url}/v1`, apiKey: 'none' });
    const plain = await generateText({ model: provider('sim'), prompt: 'Hello, wire.' });
    const expected = await chatText(stack, {
      messages: [{ role: 'user', content: 'Hello, wire.' }],
    });
    assert.equal(plain.text, expected);
    assert.ok((plain.usage.outputTokens ?? 0) > 0);

    const streamed = streamText({ model: provider('sim'), prompt: 'Hello, wire.' });
    let text = '';
    for await (const piece of streamed.textStream) text += piece;
    assert.equal(text, expected);

    const withTool = await generateText({
      model: provider('sim'),
      prompt: 'What is the weather in Oslo?',
      toolChoice: 'required',
      tools: {
        get_weather: tool({
          description: 'Weather in a city',
          inputSchema: jsonSchema<{ city: string }>({
            type: 'object',
            properties: { city: { type: 'string' } },
            required: ['city'],
            additionalProperties: false,
          }),
        }),
      },
    });
    assert.equal(withTool.toolCalls.length, 1);
    assert.equal(withTool.toolCalls[0]!.toolName, 'get_weather');
    assert.equal(typeof (withTool.toolCalls[0]!.input as { city: unknown }).city, 'string');
    assert.equal(withTool.finishReason, 'tool-calls');
  });
});
