// The clients of every API the gateway speaks, unchanged, against a real `llmwire up` process: the
// openai SDK (chat completions and Responses), @anthropic-ai/sdk (Messages), and the Vercel AI
// SDK's default OpenAI provider and @ai-sdk/anthropic - on the embedded default (SQLite journal,
// in-process workers) and with `--transport nats://` (gateway and workers joined by NATS).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, streamText, tool, type ToolSet } from 'ai';
import OpenAI from 'openai';
import { BROKER_URLS } from '../helpers/broker-urls.js';
import { brokerAvailable } from './broker-stack.js';
import { spawnProcess, within, type WorkerProcess } from './process-stack.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const TIMEOUT = { timeout: 60_000 };

const tools: ToolSet = {
  get_weather: tool({
    description: 'Weather in a city',
    inputSchema: jsonSchema<{ city: string }>({
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    }),
  }),
};

function suite(name: string, extra: () => string[]): void {
  describe(`every API's clients against llmwire up - ${name}`, () => {
    let up: WorkerProcess;
    let url = '';
    let dir = '';
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'llmwire-apis-'));
      up = spawnProcess('up', CLI, ['up', '--port', '0', '--data-dir', dir, ...extra()]);
      await up.waitForOutput(/^ready;/m, 30_000);
      url = /gateway +(http:\/\/[^/\s]+)\/v1/.exec(up.output())![1]!;
    });
    after(async () => {
      up.child.kill('SIGTERM');
      await within(up.exited, 'up to stop', 15_000);
      rmSync(dir, { recursive: true, force: true });
    });

    test('openai: responses.create plain, streamed, with tools, chained', TIMEOUT, async () => {
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none', maxRetries: 0 });
      const chat = await client.chat.completions.create({
        model: 'sim',
        messages: [{ role: 'user', content: 'Hello, up.' }],
      });
      const whole = await client.responses.create({ model: 'sim', input: 'Hello, up.' });
      assert.equal(whole.output_text, chat.choices[0]!.message.content);
      let streamed = '';
      for await (const ev of await client.responses.create({
        model: 'sim',
        input: 'Hello, up.',
        stream: true,
      })) {
        if (ev.type === 'response.output_text.delta') streamed += ev.delta;
      }
      assert.equal(streamed, whole.output_text);
      const called = await client.responses.create({
        model: 'sim',
        input: 'Weather?',
        tool_choice: 'required',
        tools: [{ type: 'function', name: 'get_weather', parameters: null, strict: false }],
      });
      const call = called.output.find((o) => o.type === 'function_call');
      assert.ok(call?.type === 'function_call');
      const next = await client.responses.create({
        model: 'sim',
        previous_response_id: called.id,
        input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny' }],
      });
      assert.equal(next.status, 'completed');
      assert.ok(next.output_text.length > 0);
    });

    test(
      '@anthropic-ai/sdk: messages.create and messages.stream, plain and with tools',
      TIMEOUT,
      async () => {
        const client = new Anthropic({ baseURL: url, apiKey: 'none', maxRetries: 0 });
        const params = {
          model: 'sim',
          max_tokens: 30,
          messages: [{ role: 'user' as const, content: 'Hello, up.' }],
        };
        const whole = await client.messages.create(params);
        assert.equal(whole.content[0]?.type, 'text');
        const final = await client.messages.stream(params).finalMessage();
        assert.deepEqual(final.content, whole.content);
        const withTool = {
          ...params,
          tool_choice: { type: 'any' as const },
          tools: [{ name: 'get_weather', input_schema: { type: 'object' as const } }],
        };
        const used = await client.messages.create(withTool);
        assert.equal(used.stop_reason, 'tool_use');
        const streamedUse = await client.messages.stream(withTool).finalMessage();
        assert.deepEqual(streamedUse.content, used.content);
      },
    );

    test('Vercel AI SDK: the default OpenAI provider and @ai-sdk/anthropic', TIMEOUT, async () => {
      for (const model of [
        createOpenAI({ baseURL: `${url}/v1`, apiKey: 'none' })('sim'),
        createAnthropic({ baseURL: `${url}/v1`, apiKey: 'none' })('sim'),
      ]) {
        const plain = await generateText({ model, prompt: 'Hello, up.', maxOutputTokens: 20 });
        assert.ok(plain.text.length > 0, `${model.provider}: text`);
        let text = '';
        for await (const piece of streamText({ model, prompt: 'Hello, up.', maxOutputTokens: 20 })
          .textStream) {
          text += piece;
        }
        assert.equal(text, plain.text, `${model.provider}: streamed = whole`);
        const called = await generateText({
          model,
          prompt: 'What is the weather in Oslo?',
          toolChoice: 'required',
          tools,
        });
        assert.equal(called.toolCalls[0]?.toolName, 'get_weather', model.provider);
      }
    });
  });
}

suite('embedded default', () => []);

if (await brokerAvailable('nats', "every API's clients against llmwire up on NATS")) {
  suite('nats', () => [
    '--transport',
    BROKER_URLS.nats,
    '--namespace',
    `a${randomBytes(4).toString('hex')}`,
  ]);
}
