// The LLM path on one real broker, end to end with the official openai client: a gateway
// process and three worker processes joined through the broker (broker-stack.ts). The same
// cases run on NATS, Redis Streams and RabbitMQ (broker-{nats,redis,amqp}.test.ts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { APIError } from 'openai';
import { referenceText } from './stack.js';
import { drain, errorCode, explain, isRetryable, streamChat } from './process-stack.js';
import {
  brokerAvailable,
  KEYS,
  startBrokerStack,
  waitUntilAsync,
  type BrokerName,
  type BrokerStack,
} from './broker-stack.js';

const messages = [{ role: 'user' as const, content: 'Tell the broker a story.' }];
const TIMEOUT = { timeout: 60_000 };

export async function brokerSuite(broker: BrokerName): Promise<void> {
  const what = `llm path on ${broker}`;
  if (!(await brokerAvailable(broker, what))) return;

  describe(what, () => {
    let stack: BrokerStack;
    before(async () => {
      stack = await startBrokerStack(broker, { workers: 3 });
    });
    after(async () => {
      await stack?.[Symbol.asyncDispose]();
    });

    test('lists the model its workers serve', TIMEOUT, async () => {
      const page = await stack.client().models.list();
      assert.deepEqual(
        page.data.map((m) => m.id),
        ['sim'],
      );
      const ids = (await stack.listWorkers()).map((w) => w.id).sort();
      assert.deepEqual(ids, ['w1', 'w2', 'w3']);
    });

    test('streams a chat completion with the whole text', TIMEOUT, async () => {
      const request = { model: 'sim', messages, seed: 7, max_tokens: 40 };
      const outcome = await streamChat(stack.client(), request);
      assert.equal(outcome.error, undefined, explain(outcome.error));
      assert.equal(outcome.hung, false);
      assert.equal(outcome.text, await referenceText({}, request));
      assert.equal(outcome.finishReason, 'length');
      assert.equal(outcome.completionTokens, 40);
      assert.ok(outcome.deltas > 1, 'the answer came in several chunks');
    });

    test('answers a non-streaming chat completion', TIMEOUT, async () => {
      const request = { model: 'sim', messages, seed: 8, max_tokens: 25 };
      const { data, response } = await stack
        .client()
        .chat.completions.create(request)
        .withResponse();
      assert.equal(response.status, 200);
      assert.match(response.headers.get('x-llmwire-worker') ?? '', /^w[123]$/);
      assert.equal(data.object, 'chat.completion');
      assert.equal(data.choices[0]?.message.content, await referenceText({}, request));
      assert.equal(data.choices[0]?.finish_reason, 'length');
      assert.equal(data.usage?.completion_tokens, 25);
    });

    test('spreads requests across the workers', TIMEOUT, async () => {
      const client = stack.client();
      const served = await Promise.all(
        Array.from({ length: 12 }, async (_, i) => {
          const { response } = await client.chat.completions
            .create({ model: 'sim', messages, seed: i, max_tokens: 20 })
            .withResponse();
          return response.headers.get('x-llmwire-worker');
        }),
      );
      const counts = new Map<string, number>();
      for (const id of served) counts.set(id ?? '?', (counts.get(id ?? '?') ?? 0) + 1);
      assert.deepEqual([...counts.keys()].sort(), ['w1', 'w2', 'w3'], JSON.stringify([...counts]));
    });

    test('a client that aborts a stream cancels the work on the worker', TIMEOUT, async () => {
      // A worker of its own (its own model), so its counts are this request's alone; 100 ms a
      // token for 1,000 tokens: it would run for minutes unless the cancel reaches it.
      const slow = await stack.startWorker('abort', ['--model', 'sim-slow', '--sim-itl-ms', '100']);
      const abort = new AbortController();
      let deltas = 0;
      try {
        const stream = await stack
          .client()
          .chat.completions.create(
            { model: 'sim-slow', messages, max_tokens: 1000, stream: true },
            { signal: abort.signal },
          );
        for await (const chunk of stream) {
          if ((chunk.choices[0]?.delta.content ?? '') !== '') deltas++;
          if (deltas === 3) {
            abort.abort();
            break;
          }
        }
      } catch (err) {
        assert.ok(abort.signal.aborted, `only the abort ends the stream: ${explain(err)}`);
      }
      assert.equal(deltas, 3);
      await waitUntilAsync(
        async () => (await stack.listWorkers()).find((w) => w.id === 'abort')?.inflight === 0,
        'the worker to report the request gone',
      );
      assert.deepEqual(
        await drain(slow, 15_000),
        { code: 0, signal: null, completed: 0, failed: 0, cancelled: 1 },
        'the worker stopped the model call as cancelled',
      );
    });

    test('a tenant over its requests-per-minute limit gets 429', TIMEOUT, async () => {
      const client = stack.client(KEYS.limited);
      const request = { model: 'sim', messages, max_tokens: 2 };
      for (let i = 0; i < 2; i++) await client.chat.completions.create(request);
      const err = await client.chat.completions.create(request).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof APIError, `third request: ${explain(err)}`);
      assert.equal(err.status, 429);
      assert.equal(errorCode(err), 'rate_limited');
      // Other tenants are not limited by it.
      await stack.client().chat.completions.create(request);
    });

    test(
      'a SIGKILL of the worker serving a stream: the client gets the whole text once, or a retryable error',
      TIMEOUT,
      async () => {
        const request = { model: 'sim', messages, seed: 21, max_tokens: 120 };
        const expected = await referenceText({}, request);
        // Heartbeats report a worker's load once a second: wait until none still counts an
        // earlier request, so the one busy worker below is the one serving this stream.
        await waitUntilAsync(
          async () => (await stack.listWorkers()).every((w) => w.inflight === 0),
          'the workers to report nothing in flight',
        );
        let victim: string | undefined;
        const outcome = await streamChat(stack.client(), request, {
          timeoutMs: 30_000,
          onDelta: async (n) => {
            if (n !== 10) return;
            const serving = (await stack.listWorkers()).filter(
              (w) => w.inflight > 0 && w.models.includes('sim'),
            );
            assert.equal(serving.length, 1, JSON.stringify(serving));
            victim = serving[0]!.id;
            stack.workers.get(victim)!.child.kill('SIGKILL');
          },
        });
        assert.ok(
          victim !== undefined,
          `a worker was killed mid-stream (${explain(outcome.error)})`,
        );
        assert.equal(outcome.hung, false, 'the stream ended');
        if (outcome.error === undefined) {
          assert.equal(outcome.text, expected, 'no duplicated and no missing text');
          assert.equal(outcome.finishReason, 'length');
          assert.equal(outcome.completionTokens, 120);
        } else {
          assert.ok(isRetryable(outcome.error), `ended with ${explain(outcome.error)}`);
          assert.ok(expected.startsWith(outcome.text), 'text before the error is a prefix');
        }
        assert.equal((await stack.workers.get(victim)!.exited).signal, 'SIGKILL');
        await waitUntilAsync(
          async () => !(await stack.listWorkers()).some((w) => w.id === victim),
          'the killed worker to leave the registry',
        );
      },
    );
  });
}
