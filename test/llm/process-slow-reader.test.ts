// A reader that pauses must slow its own stream only (flow control), never make the gateway
// declare the worker behind it lost: that would fail over, or end with worker_lost, every other
// stream that worker is running. The worker here is a real `llmwire worker` process that stays
// healthy throughout.
//
// The dispatcher's idle timer (which detects a silent worker) runs only while it waits on the
// worker, never while the client's socket is not reading. The test uses a Dispatcher with a
// 300 ms idle timeout on the gateway's own bus and registry so that it runs in test time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dispatcher, type CallOptions } from '../../src/llm/gateway/dispatch.js';
import { createPolicy } from '../../src/llm/routing/index.js';
import type { InferenceRequest } from '../../src/protocol/index.js';
import { referenceText } from './stack.js';
import { explain, startProcessStack } from './process-stack.js';

const messages = [{ role: 'user' as const, content: 'Tell the wire a long story.' }];

async function read(
  gen: AsyncGenerator<{ text: string }[], unknown>,
  pause?: { afterDeltas: number; ms: number },
): Promise<{ text: string; error: unknown }> {
  let text = '';
  let deltas = 0;
  let paused = false;
  try {
    for (let step = await gen.next(); step.done !== true; step = await gen.next()) {
      for (const delta of step.value) text += delta.text;
      deltas += step.value.length;
      if (pause !== undefined && !paused && deltas >= pause.afterDeltas) {
        paused = true;
        await new Promise((r) => setTimeout(r, pause.ms));
      }
    }
    return { text, error: undefined };
  } catch (error) {
    return { text, error };
  }
}

test(
  'worker process - a reader that pauses does not get its healthy worker declared lost',
  {
    timeout: 30_000,
  },
  async () => {
    await using stack = await startProcessStack();
    await stack.startWorker('only');
    const lost: string[] = [];
    stack.gateway.registry.on((e) => {
      if (e.type === 'lost') lost.push(e.worker.id);
    });
    const dispatcher = new Dispatcher({
      bus: stack.bus,
      registry: stack.gateway.registry,
      policyFor: () => createPolicy('least-outstanding'),
      idleTimeoutMs: 300,
    });
    const call = (requestId: string): CallOptions => ({
      requestId,
      tenant: 'default',
      prio: 5,
      deadline: Date.now() + 20_000,
      signal: AbortSignal.timeout(20_000),
    });
    const paused: InferenceRequest = { model: 'sim', messages, seed: 1, max_tokens: 200 };
    const steady: InferenceRequest = { model: 'sim', messages, seed: 2, max_tokens: 150 };
    const [slow, other] = await Promise.all([
      read(dispatcher.chat(paused, call('paused')), { afterDeltas: 3, ms: 1000 }),
      read(dispatcher.chat(steady, call('steady'))),
    ]);
    assert.equal(other.error, undefined, `other stream: ${explain(other.error)}`);
    assert.equal(other.text, await referenceText({}, steady));
    assert.deepEqual(lost, [], 'the healthy worker was never declared lost');
    assert.equal(slow.error, undefined, `paused stream: ${explain(slow.error)}`);
    assert.equal(slow.text, await referenceText({}, paused));
  },
);
