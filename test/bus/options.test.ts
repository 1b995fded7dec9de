// Bus options: createBus checks them with one schema, and a bad one is a ConfigError that names
// the field, what it must be and what it was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBus, type BusOptions } from '../../src/bus/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';

test('bus options - a bad option is a ConfigError naming its field', async () => {
  const transport = createMemoryTransport();
  const cases: [Record<string, unknown>, string][] = [
    [{}, "'transport' is required"],
    [
      { transport, defaultTimeoutMs: 0 },
      "'defaultTimeoutMs' expected number to be greater than 0, got 0",
    ],
    [{ transport, streamCredit: 1.5 }, "'streamCredit' expected integer, got 1.5"],
    [
      { transport, streamCredit: 0 },
      "'streamCredit' expected integer to be greater or equal to 1, got 0",
    ],
    [
      { transport, coalesce: { maxDelayMs: 2000 } },
      "'coalesce.maxDelayMs' expected number to be less or equal to 1000, got 2000",
    ],
    [{ transport, coalesce: {} }, "'coalesce.maxDelayMs' is required"],
    [
      { transport, coalesce: { maxDelayMs: 5, maxChunks: 65 } },
      "'coalesce.maxChunks' expected integer to be less or equal to 64, got 65",
    ],
    [
      { transport, security: { integrity: 'yes' } },
      `'security.integrity' expected boolean, got "yes"`,
    ],
    [{ transport, onError: 'log' }, `'onError' expected function, got "log"`],
    [{ transport, sourec: 'a' }, "unknown option 'sourec'"],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => createBus(options as unknown as BusOptions), {
      name: 'ConfigError',
      message: `bus: ${message}`,
    });
  }
  // Unset options are absent ones; a good set makes a working bus.
  const bus = createBus({ transport, source: undefined, coalesce: { maxDelayMs: 5 } });
  await bus.ready;
  bus.serve('echo', (msg) => msg.body);
  assert.equal((await bus.request('echo', 7)).body, 7);
  await bus.close();
  await transport.close();
});
