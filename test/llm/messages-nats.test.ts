// The Anthropic Messages API over NATS, every part its own process (broker-stack.ts): the
// official client's create, stream and tool use through a gateway process and worker processes
// joined by the broker. Skipped with a notice when no NATS answers (test/helpers/requires.ts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { anthropic, time, weather } from './messages-client.js';
import { brokerAvailable, KEYS, startBrokerStack, type BrokerStack } from './broker-stack.js';
import { referenceText } from './stack.js';

const what = 'Anthropic Messages on nats';
const TIMEOUT = { timeout: 60_000 };
const content = 'Tell the broker a story.';

if (await brokerAvailable('nats', what)) {
  describe(what, () => {
    let stack: BrokerStack;
    before(async () => {
      stack = await startBrokerStack('nats', { workers: 2 });
    });
    after(async () => {
      await stack?.[Symbol.asyncDispose]();
    });

    test('create and stream give the reference text, and the same message', TIMEOUT, async () => {
      const client = anthropic(stack, KEYS.main);
      const params = {
        model: 'sim',
        max_tokens: 40,
        messages: [{ role: 'user' as const, content }],
      };
      const whole = await client.messages.create(params);
      const expected = await referenceText(
        {},
        { model: 'sim', max_tokens: 40, messages: [{ role: 'user', content }] },
      );
      assert.deepEqual(whole.content, [{ type: 'text', text: expected }]);
      assert.equal(whole.stop_reason, 'max_tokens');
      let text = '';
      const stream = client.messages.stream(params);
      stream.on('text', (delta) => (text += delta));
      const final = await stream.finalMessage();
      assert.equal(text, expected);
      assert.deepEqual(final.content, whole.content);
      assert.deepEqual(final.usage, whole.usage);
    });

    test('a tool_use block, then a tool_result answered in text', TIMEOUT, async () => {
      const client = anthropic(stack, KEYS.main);
      const ask = { role: 'user' as const, content: 'What does get_time say for Oslo?' };
      const first = await client.messages.create({
        model: 'sim',
        max_tokens: 30,
        tools: [weather, time],
        messages: [ask],
      });
      assert.equal(first.stop_reason, 'tool_use');
      const use = first.content[0]!;
      assert.ok(use.type === 'tool_use');
      assert.equal(use.name, 'get_time');
      const streamed = await client.messages
        .stream({ model: 'sim', max_tokens: 30, tools: [weather, time], messages: [ask] })
        .finalMessage();
      assert.deepEqual(streamed.content, first.content);
      const second = await client.messages.create({
        model: 'sim',
        max_tokens: 30,
        tools: [weather, time],
        messages: [
          ask,
          { role: 'assistant', content: first.content },
          {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: use.id, content: '09:00' }],
          },
        ],
      });
      assert.equal(second.stop_reason, 'max_tokens');
      assert.deepEqual(
        second.content.map((b) => b.type),
        ['text'],
      );
    });
  });
}
