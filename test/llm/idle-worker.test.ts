// A worker that stops sending mid-answer while it stays alive (its heartbeats go on, so the
// registry never drops it) is caught by the dispatcher's idle clock alone: the attempt is
// abandoned, the worker is told to stop, and another worker continues the answer from what
// was already sent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend } from '../../src/llm/backends/backend.js';
import { createSimBackend } from '../../src/llm/backends/sim/index.js';
import { Dispatcher, type CallOptions } from '../../src/llm/gateway/dispatch.js';
import type { RoutingPolicy } from '../../src/llm/routing/policy.js';
import { CancelledError, type InferenceRequest } from '../../src/protocol/index.js';
import { referenceText, startStack } from './stack.js';

/** A sim backend that goes quiet after `after` deltas until it is told to stop. */
function stallingBackend(after: number): Backend & { stopped: () => boolean } {
  const sim = createSimBackend({ models: ['sim'] });
  let stopped = false;
  return {
    kind: 'stall',
    models: () => ['sim'],
    stopped: () => stopped,
    async *generate(request, options) {
      const gen = sim.generate(request, options);
      for (let n = 0; ;) {
        const step = await gen.next();
        if (step.done === true) return step.value;
        yield step.value;
        if (++n < after) continue;
        await new Promise((resolve) =>
          options.signal.addEventListener('abort', resolve, { once: true }),
        );
        stopped = true;
        throw new CancelledError('stopped by the gateway');
      }
    },
  };
}

test('a worker that goes quiet mid-answer is abandoned after the idle timeout and another continues', async () => {
  const stalling = stallingBackend(3);
  await using stack = await startStack({
    backends: [stalling, createSimBackend({ models: ['sim'] })],
  });
  const lost: string[] = [];
  stack.gateway.registry.on((e) => {
    if (e.type === 'lost') lost.push(e.worker.id);
  });
  // w1 (the stalling one) first, so the first attempt always meets the stall.
  const stallFirst: RoutingPolicy = {
    name: 'round-robin',
    pick: (workers) => workers.find((w) => w.id === 'w1') ?? workers[0],
  };
  const dispatcher = new Dispatcher({
    bus: stack.bus,
    registry: stack.gateway.registry,
    policyFor: () => stallFirst,
    idleTimeoutMs: 300,
  });
  const call: CallOptions = {
    requestId: 'quiet',
    tenant: 'default',
    prio: 5,
    deadline: Date.now() + 20_000,
    signal: AbortSignal.timeout(20_000),
  };
  const request: InferenceRequest = {
    model: 'sim',
    messages: [{ role: 'user', content: 'Say something long.' }],
    seed: 3,
    max_tokens: 40,
  };
  let text = '';
  const gen = dispatcher.chat(request, call);
  for (let step = await gen.next(); step.done !== true; step = await gen.next())
    for (const delta of step.value) text += delta.text;
  assert.equal(text, await referenceText({}, request), 'continued with nothing lost or repeated');
  assert.deepEqual(lost, ['w1'], 'the quiet worker, and only it, was counted lost');
  assert.ok(stalling.stopped(), 'the quiet worker was told to stop its generation');
});
