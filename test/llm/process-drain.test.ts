// Draining a real worker process with SIGTERM, as an orchestrator stops a pod: the stream it is
// running completes, new requests go to the other worker, and the process exits 0; a stream
// still running when the drain timeout ends continues on another worker.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { referenceText } from './stack.js';
import {
  drain,
  explain,
  startProcessStack,
  streamChat,
  waitUntil,
  within,
} from './process-stack.js';

const messages = [{ role: 'user' as const, content: 'Tell the wire a long story.' }];

test(
  'worker process - SIGTERM drains: the running stream completes, new requests go elsewhere, exit 0',
  { timeout: 30_000 },
  async () => {
    await using stack = await startProcessStack();
    const workers = new Map(
      await Promise.all(['wa', 'wb'].map(async (id) => [id, await stack.startWorker(id)] as const)),
    );
    const request = { model: 'sim', messages, seed: 8, max_tokens: 250 };
    let draining: string | undefined;
    let signalled!: () => void;
    const sent = new Promise<void>((resolve) => (signalled = resolve));
    const running = streamChat(stack.client(), request, {
      onDelta: (n) => {
        if (n !== 5) return;
        [draining] = stack.serving();
        workers.get(draining!)!.child.kill('SIGTERM');
        signalled();
      },
    });
    await within(sent, 'the stream to start', 10_000);
    const drainingWorker = workers.get(draining!)!;
    const other = draining === 'wa' ? 'wb' : 'wa';
    await drainingWorker.waitForOutput(/SIGTERM: draining \(1 in flight\)/);
    await waitUntil(
      () => stack.worker(draining!)?.status === 'draining',
      'the gateway to see the worker draining',
    );

    const client = stack.client();
    for (let i = 0; i < 4; i++) {
      const { data, response } = await client.chat.completions
        .create({ model: 'sim', messages, seed: 100 + i, max_tokens: 5 }, { timeout: 10_000 })
        .withResponse();
      assert.equal(response.headers.get('x-llmwire-worker'), other, `request ${i} went elsewhere`);
      assert.equal(data.choices[0]?.finish_reason, 'length');
    }
    assert.equal(drainingWorker.child.exitCode, null, 'still running its stream');

    const outcome = await running;
    assert.equal(outcome.error, undefined, `stream failed: ${explain(outcome.error)}`);
    assert.equal(outcome.text, await referenceText({}, request));
    assert.equal(outcome.completionTokens, 250);

    const exit = await within(drainingWorker.exited, 'the drained worker to exit', 10_000);
    assert.deepEqual(exit, { code: 0, signal: null }, drainingWorker.output());
    assert.match(
      drainingWorker.output(),
      /stopped: 1 completed, 0 failed, 0 cancelled/,
      'it ran nothing but the stream it had',
    );
    await waitUntil(() => stack.worker(draining!) === undefined, 'the gateway to drop the worker');
    assert.equal(stack.worker(other)?.status, 'ready');
  },
);

test(
  'worker process - a stream still running at the drain timeout continues on another worker',
  { timeout: 30_000 },
  async () => {
    await using stack = await startProcessStack();
    const args = ['--drain-timeout-ms', '300'];
    const workers = new Map(
      await Promise.all(
        ['wa', 'wb'].map(async (id) => [id, await stack.startWorker(id, args)] as const),
      ),
    );
    // About 2.5 s of tokens: far longer than the 300 ms the worker waits once told to stop.
    const request = { model: 'sim', messages, seed: 9, max_tokens: 250 };
    let stopping: string | undefined;
    const outcome = await streamChat(stack.client(), request, {
      onDelta: (n) => {
        if (n !== 5) return;
        [stopping] = stack.serving();
        workers.get(stopping!)!.child.kill('SIGTERM');
      },
    });
    assert.ok(stopping !== undefined);
    assert.equal(outcome.error, undefined, `stream failed: ${explain(outcome.error)}`);
    assert.equal(outcome.text, await referenceText({}, request), 'whole text, nothing repeated');
    assert.equal(outcome.completionTokens, 250);
    const stopped = workers.get(stopping)!;
    const exit = await within(stopped.exited, 'the stopped worker to exit', 10_000);
    assert.deepEqual(exit, { code: 0, signal: null }, stopped.output());
    const other = workers.get(stopping === 'wa' ? 'wb' : 'wa')!;
    assert.equal((await drain(other)).completed, 1, 'the other worker finished the stream');
  },
);
