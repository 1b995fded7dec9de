// Cancellation, deadlines and failover on /v1/messages, as for chat completions: a client that
// aborts a stream stops the model call; a deadline ends a stream with Anthropic's error event;
// and real worker processes that SIGKILL themselves mid-stream (in text or in a tool call) are
// replaced, the official client getting the whole answer exactly once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import type {
  Message,
  MessageCreateParams,
  MessageCreateParamsNonStreaming,
  Tool,
} from '@anthropic-ai/sdk/resources/messages';
import { anthropic, hello } from './messages-client.js';
import { drain, startProcessStack, waitUntil, within } from './process-stack.js';
import { referenceText, startStack } from './stack.js';

const TIMEOUT = { timeout: 30_000 };

/** A tool whose arguments take many deltas (four characters each), so a crash falls inside. */
const form: Tool = {
  name: 'fill_form',
  description: 'Fills a long form',
  input_schema: {
    type: 'object',
    properties: Object.fromEntries(
      ['name', 'street', 'city', 'country', 'note'].map((k) => [
        k,
        { type: 'string', minLength: 12, maxLength: 16 },
      ]),
    ),
    required: ['name', 'street', 'city', 'country', 'note'],
  },
};

/** Streams with the official client; the text, the final message or the error, and how many text events. */
async function streamMessage(
  client: Anthropic,
  params: MessageCreateParams,
): Promise<{ text: string; texts: number; final?: Message; error?: unknown }> {
  const stream = client.messages.stream(params, { timeout: 20_000 });
  let text = '';
  let texts = 0;
  stream.on('text', (delta) => {
    text += delta;
    texts++;
  });
  try {
    const final = await stream.finalMessage();
    return { text, texts, final };
  } catch (error) {
    return { text, texts, error };
  }
}

describe('messages - cancellation and deadlines', () => {
  test('a client abort mid-stream reaches the model call', async () => {
    await using stack = await startStack({ workers: 1, sim: { itlMs: 20 } });
    const stream = anthropic(stack).messages.stream({
      model: 'sim',
      max_tokens: 500,
      messages: hello,
    });
    let n = 0;
    stream.on('text', () => {
      if (++n === 5) stream.abort();
    });
    await stream.done().catch(() => undefined);
    assert.ok(stream.aborted);
    const worker = stack.workers[0]!;
    await waitUntil(() => worker.stats.cancelled === 1, 'the worker to see the cancel', 5000);
    assert.equal(worker.stats.completed, 0);
    assert.ok(worker.stats.tokens < 100, `the model stopped early (${worker.stats.tokens} tokens)`);
  });

  test('a deadline that passes mid-stream ends it with an error event of type timeout_error', async () => {
    await using stack = await startStack({ workers: 1, sim: { itlMs: 50 } });
    const body = { model: 'sim', max_tokens: 200, messages: hello, stream: true };
    const res = await fetch(`${stack.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-llmwire-timeout-ms': '800' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200);
    const events = (await res.text()).split('\n\n').filter((e) => e !== '');
    assert.match(events[0]!, /^event: message_start\n/);
    assert.ok(events.some((e) => e.startsWith('event: content_block_delta\n')));
    assert.ok(!events.some((e) => e.startsWith('event: message_stop')));
    const last = events.at(-1)!;
    assert.match(last, /^event: error\ndata: /);
    const error = JSON.parse(last.slice(last.indexOf('data: ') + 6)) as {
      type: string;
      error: { type: string; message: unknown };
    };
    assert.equal(error.type, 'error');
    assert.equal(error.error.type, 'timeout_error');
    assert.equal(typeof error.error.message, 'string');

    const outcome = await streamMessage(
      new Anthropic({
        baseURL: stack.url,
        apiKey: 'none',
        maxRetries: 0,
        defaultHeaders: { 'x-llmwire-timeout-ms': '800' },
      }),
      { model: 'sim', max_tokens: 200, messages: hello },
    );
    assert.ok(outcome.error instanceof Anthropic.APIError, String(outcome.error));
    assert.equal(
      (outcome.error.error as { error?: { type?: string } }).error?.type,
      'timeout_error',
    );
    assert.ok(outcome.texts > 0, 'the text before the deadline arrived');
  });
});

describe('messages - worker processes killed mid-stream', () => {
  test(
    'a worker that SIGKILLs itself mid-text is replaced: the text equals the reference, once',
    TIMEOUT,
    async () => {
      await using stack = await startProcessStack();
      const crashing = await stack.startCrashingWorker('crashing', { crashAfterTokens: 8 });
      const steady = await stack.startWorker('steady');
      const prompts = ['Tell the wire a long story.', 'Tell the wire another long story.'];
      // Least-outstanding sends two streams arriving together to different workers.
      const outcomes = await Promise.all(
        prompts.map((content) =>
          streamMessage(anthropic(stack), {
            model: 'sim',
            max_tokens: 60,
            messages: [{ role: 'user', content }],
          }),
        ),
      );
      const exit = await within(crashing.exited, 'the crashing worker to crash', 10_000);
      assert.equal(exit.signal, 'SIGKILL');
      for (const [i, outcome] of outcomes.entries()) {
        assert.equal(outcome.error, undefined, `stream ${i} failed: ${String(outcome.error)}`);
        const expected = await referenceText(
          {},
          { model: 'sim', max_tokens: 60, messages: [{ role: 'user', content: prompts[i]! }] },
        );
        assert.equal(outcome.text, expected, `stream ${i}: no duplicated and no missing text`);
        assert.deepEqual(outcome.final!.content, [{ type: 'text', text: expected }]);
        assert.equal(outcome.final!.stop_reason, 'max_tokens');
        assert.equal(outcome.final!.usage.output_tokens, 60);
      }
      assert.deepEqual(await drain(steady), {
        code: 0,
        signal: null,
        completed: 2,
        failed: 0,
        cancelled: 0,
      });
    },
  );

  test(
    'a worker that SIGKILLs itself inside a tool call is replaced: the input equals the reference',
    TIMEOUT,
    async () => {
      await using stack = await startProcessStack();
      const crashing = await stack.startCrashingWorker('crashing', { crashAfterTokens: 6 });
      const steady = await stack.startWorker('steady');
      const prompts = ['Fill it in for Ada.', 'Fill it in for Grace.'];
      const params = (content: string): MessageCreateParamsNonStreaming => ({
        model: 'sim',
        max_tokens: 60,
        tools: [form],
        tool_choice: { type: 'any' },
        messages: [{ role: 'user', content }],
      });
      const outcomes = await Promise.all(
        prompts.map((content) => streamMessage(anthropic(stack), params(content))),
      );
      const exit = await within(crashing.exited, 'the crashing worker to crash', 10_000);
      assert.equal(exit.signal, 'SIGKILL');
      await waitUntil(() => stack.worker('crashing') === undefined, 'the crashed worker to go');
      for (const [i, outcome] of outcomes.entries()) {
        assert.equal(outcome.error, undefined, `stream ${i} failed: ${String(outcome.error)}`);
        // Only the steady worker is left: the same request, whole, is the reference.
        const reference = await anthropic(stack).messages.create(params(prompts[i]!));
        assert.equal(reference.content.length, 1);
        assert.deepEqual(outcome.final!.content, reference.content, `stream ${i}`);
        assert.equal(outcome.final!.stop_reason, 'tool_use');
        const input = (reference.content[0] as { input: Record<string, string> }).input;
        assert.equal(Object.keys(input).length, 5);
      }
      assert.equal((await drain(steady)).completed, 4);
    },
  );
});
