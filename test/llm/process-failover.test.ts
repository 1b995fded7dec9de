// Failover with real worker processes: `llmwire worker` children joined to the gateway's
// WebSocket bus endpoint are killed with SIGKILL (or kill themselves) before or during a stream,
// and the official openai SDK must see either the whole answer, exactly, or an explicit error.
// A killed worker is noticed when its heartbeats stop (three missed 1 s beats), so each kill
// costs about 3 s of waiting.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { APIError } from 'openai';
import { referenceText } from './stack.js';
import {
  drain,
  errorCode,
  explain,
  startProcessStack,
  streamChat,
  waitUntil,
  within,
} from './process-stack.js';

const messages = [{ role: 'user' as const, content: 'Tell the wire a long story.' }];
const TIMEOUT = { timeout: 30_000 };

describe('worker processes - failover', () => {
  test(
    'a worker SIGKILLed mid-stream is replaced and the client gets the whole text once',
    TIMEOUT,
    async () => {
      await using stack = await startProcessStack();
      const workers = new Map(
        await Promise.all(
          ['wa', 'wb'].map(async (id) => [id, await stack.startWorker(id)] as const),
        ),
      );
      const request = { model: 'sim', messages, seed: 21, max_tokens: 120 };
      const expected = await referenceText({}, request);
      let victim: string | undefined;
      const outcome = await streamChat(stack.client(), request, {
        onDelta: (n) => {
          if (n !== 10) return;
          [victim] = stack.serving();
          workers.get(victim!)!.child.kill('SIGKILL');
        },
      });
      assert.ok(victim !== undefined, 'a worker was serving the stream when it was killed');
      assert.equal(outcome.error, undefined, `stream failed: ${explain(outcome.error)}`);
      assert.equal(outcome.hung, false);
      assert.equal(outcome.text, expected, 'no duplicated and no missing text');
      assert.equal(outcome.finishReason, 'length');
      assert.equal(outcome.completionTokens, 120, 'usage counts the whole answer');
      assert.equal((await workers.get(victim)!.exited).signal, 'SIGKILL');
      const survivor = victim === 'wa' ? 'wb' : 'wa';
      assert.equal(stack.worker(victim), undefined, 'the killed worker is gone from the registry');
      assert.deepEqual(
        await drain(workers.get(survivor)!),
        { code: 0, signal: null, completed: 1, failed: 0, cancelled: 0 },
        'the survivor finished the stream, once',
      );
    },
  );

  test(
    'a worker process that kills itself after N tokens (crash injection, exit) is replaced mid-stream',
    TIMEOUT,
    async () => {
      await using stack = await startProcessStack();
      const crashing = await stack.startCrashingWorker('crashing', { crashAfterTokens: 8 });
      const steady = await stack.startWorker('steady');
      // Least-outstanding sends two streams arriving together to different workers, so one of
      // them starts on the worker that will crash.
      const requests = [11, 12].map((seed) => ({ model: 'sim', messages, seed, max_tokens: 60 }));
      const outcomes = await Promise.all(
        requests.map((r) => streamChat(stack.client(), r, { timeoutMs: 20_000 })),
      );
      const exit = await within(crashing.exited, 'the crashing worker to crash', 10_000);
      assert.equal(exit.signal, 'SIGKILL', 'the worker crashed itself');
      for (const [i, outcome] of outcomes.entries()) {
        assert.equal(outcome.error, undefined, `stream ${i} failed: ${explain(outcome.error)}`);
        assert.equal(outcome.hung, false);
        assert.equal(outcome.text, await referenceText({}, requests[i]!), `stream ${i} text`);
        assert.equal(outcome.completionTokens, 60);
      }
      assert.deepEqual(
        await drain(steady),
        { code: 0, signal: null, completed: 2, failed: 0, cancelled: 0 },
        'the steady worker ran its own stream and the rest of the crashed one',
      );
    },
  );

  test(
    'a worker lost before its first token is replaced without the client noticing',
    TIMEOUT,
    async () => {
      await using stack = await startProcessStack();
      // The first worker would take a minute to its first token; it is the only one at first, so
      // the request goes to it.
      const slow = await stack.startWorker('slow', ['--sim-ttft-ms', '60000']);
      const request = { model: 'sim', messages, seed: 5, max_tokens: 30 };
      const answer = stack
        .client()
        .chat.completions.create(request, { timeout: 20_000 })
        .withResponse();
      await waitUntil(
        () => stack.serving().includes('slow'),
        'the request to reach the slow worker',
      );
      const fast = await stack.startWorker('fast');
      slow.child.kill('SIGKILL');
      const { data, response } = await answer;
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-llmwire-worker'), 'fast');
      assert.equal(data.choices[0]?.message.content, await referenceText({}, request));
      assert.equal(data.choices[0]?.finish_reason, 'length');
      assert.equal((await slow.exited).signal, 'SIGKILL');
      assert.equal((await drain(fast)).completed, 1);
    },
  );

  test(
    'a request that finds a SIGKILLed worker gone (no_responders) drops it at once and moves to another',
    TIMEOUT,
    async () => {
      await using stack = await startProcessStack();
      // Heartbeats every 10 s: the gateway would need 30 s to notice the death by their absence.
      const dead = await stack.startWorker('dead', ['--heartbeat-ms', '10000']);
      await stack.startWorker('alive');
      const lost: number[] = [];
      stack.gateway.registry.on((e) => {
        if (e.type === 'lost' && e.worker.id === 'dead') lost.push(Date.now());
      });
      dead.child.kill('SIGKILL');
      await dead.exited;
      assert.equal(stack.worker('dead')?.status, 'ready', 'the gateway has not yet seen it die');
      // Least-outstanding rotates between idle workers, so one of these is routed to the dead
      // one: its subscriptions went with its connection, so the request gets no_responders,
      // the worker is dropped from the registry and the request moves to the live one.
      for (let i = 0; i < 4; i++) {
        const { data, response } = await stack
          .client()
          .chat.completions.create({ model: 'sim', messages, seed: i, max_tokens: 3 })
          .withResponse();
        assert.equal(response.headers.get('x-llmwire-worker'), 'alive', `request ${i}`);
        assert.equal(data.choices[0]?.finish_reason, 'length');
      }
      assert.equal(stack.worker('dead'), undefined, 'the dead worker left the registry');
      assert.equal(lost.length, 1, 'it was dropped once');
    },
  );

  test(
    'the only worker SIGKILLed mid-stream ends the stream with a worker_lost error event after the text sent',
    TIMEOUT,
    async () => {
      await using stack = await startProcessStack();
      const only = await stack.startWorker('only');
      const request = { model: 'sim', messages, seed: 3, max_tokens: 200 };
      const expected = await referenceText({}, request);

      // The same failure read raw, to see the SSE framing the SDK hides.
      const raw = fetch(`${stack.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...request, stream: true }),
        signal: AbortSignal.timeout(20_000),
      }).then((res) => res.text());
      await waitUntil(() => stack.worker('only')?.outstanding === 1, 'the raw stream to start');

      const started = Date.now();
      const outcome = await streamChat(stack.client(), request, {
        onDelta: (n) => {
          if (n === 10) only.child.kill('SIGKILL');
        },
      });
      assert.equal(outcome.hung, false, 'the stream ended instead of hanging');
      assert.ok(outcome.error instanceof APIError, `stream ended with ${explain(outcome.error)}`);
      assert.equal(errorCode(outcome.error), 'worker_lost');
      assert.equal(outcome.error.type, 'server_error');
      assert.ok(outcome.deltas >= 10, 'the tokens sent before the kill were delivered');
      assert.ok(outcome.text.length < expected.length && expected.startsWith(outcome.text));
      assert.equal(outcome.finishReason, undefined);
      const elapsed = Date.now() - started;

      const events = (await within(raw, 'the raw stream to end', 20_000))
        .split('\n\n')
        .filter((e) => e !== '');
      const last = events.at(-1)!;
      assert.ok(!events.includes('data: [DONE]'), 'a failed stream is not marked done');
      assert.match(last, /^event: error\ndata: /);
      const body = JSON.parse(last.slice(last.indexOf('data: ') + 6)) as {
        error: { code: string; type: string; message: string };
      };
      assert.equal(body.error.code, 'worker_lost');
      assert.equal(body.error.type, 'server_error');
      const text = events
        .slice(0, -1)
        .map((e) => JSON.parse(e.slice(6)) as { choices: { delta: { content?: string } }[] })
        .map((c) => c.choices[0]?.delta.content ?? '')
        .join('');
      assert.ok(
        text.length > 0 && expected.startsWith(text),
        'raw text before the error is a prefix',
      );
      assert.equal((await only.exited).signal, 'SIGKILL');
      assert.ok(elapsed < 10_000, `the loss was reported in ${elapsed} ms`);
    },
  );
});
