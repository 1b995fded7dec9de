// The worker's answer to an inference.request without `credit` (docs/protocol.md,
// "inference.request"): one inference.result with the whole text and the tool calls joined.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBus } from '../../src/bus/index.js';
import type { Backend } from '../../src/llm/backends/backend.js';
import { createWorker } from '../../src/llm/worker/worker.js';
import type { InferenceResult } from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';

/** A backend that streams two text deltas and one tool call in OpenAI delta form. */
const toolBackend: Backend = {
  kind: 'tool-test',
  models: () => ['m'],
  async *generate() {
    await Promise.resolve();
    yield { text: 'Let me ' };
    yield { text: 'look.' };
    yield {
      text: '',
      tool_calls: [
        { index: 0, id: 'call_1', type: 'function', function: { name: 'get_', arguments: '{"ci' } },
      ],
    };
    yield {
      text: '',
      tool_calls: [{ index: 0, function: { name: 'weather', arguments: 'ty":"Oslo"}' } }],
    };
    yield {
      text: '',
      tool_calls: [{ index: 1, id: 'call_2', function: { name: 'now', arguments: '{}' } }],
    };
    return {
      finish_reason: 'tool_calls',
      usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
    };
  },
};

test('worker - a request without credit gets one inference.result with text and tool calls joined', async () => {
  const transport = createMemoryTransport();
  const bus = createBus({ transport, onError: () => undefined });
  const worker = createWorker({ bus, backend: toolBackend, id: 'w1' });
  await worker.start();
  try {
    const reply = await bus.request<InferenceResult>(
      'llm.worker.w1.chat',
      { model: 'm', messages: [{ role: 'user', content: 'weather?' }] },
      { kind: 'inference.request' },
    );
    assert.equal(reply.kind, 'inference.result');
    assert.deepEqual(reply.body, {
      model: 'm',
      text: 'Let me look.',
      finish_reason: 'tool_calls',
      usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
      worker: 'w1',
      tool_calls: [
        {
          id: 'call_1',
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
        },
        { id: 'call_2', type: 'function', function: { name: 'now', arguments: '{}' } },
      ],
    });
    assert.equal(worker.stats.completed, 1);
  } finally {
    await worker.stop();
    await bus.close();
    await transport.close();
  }
});
