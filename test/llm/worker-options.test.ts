// Worker options: a bad number is a ConfigError that names the field before the worker starts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBus } from '../../src/bus/index.js';
import { createSimBackend } from '../../src/llm/backends/index.js';
import { createWorker } from '../../src/llm/worker/worker.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';

test('worker options - a bad concurrency or heartbeat is a ConfigError naming it', async () => {
  const transport = createMemoryTransport();
  const bus = createBus({ transport, source: 'w' });
  const backend = createSimBackend();
  const cases: [Record<string, unknown>, string][] = [
    [{ concurrency: 0 }, "'concurrency' expected integer to be greater or equal to 1, got 0"],
    [{ concurrency: 1.5 }, "'concurrency' expected integer, got 1.5"],
    [{ heartbeatMs: 5 }, "'heartbeatMs' expected number to be greater or equal to 10, got 5"],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => createWorker({ bus, backend, ...options }), {
      name: 'ConfigError',
      message: `worker: ${message}`,
    });
  }
  assert.equal(createWorker({ bus, backend, concurrency: 2, heartbeatMs: 10 }).concurrency, 2);
  await bus.close();
  await transport.close();
});
