// A reproduction kept as a todo: on RabbitMQ, a second plain subscription made after the first
// one is ready never becomes ready itself (its queue binding never confirms). The conformance
// suite does not make subscriptions in this order; the gateway and the workers do, which is why
// the command line does not offer amqp:// yet.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createAmqpTransport } from '../../src/transport/amqp/index.js';

const URL = process.env.LLMWIRE_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

test(
  'amqp - a second subscription made after the first is ready becomes ready too',
  { todo: 'the second binding never confirms; see the header', timeout: 20_000 },
  async () => {
    const t = createAmqpTransport({
      url: URL,
      exchange: `lwready${randomBytes(3).toString('hex')}`,
      deleteOnClose: true,
      onError: () => undefined,
    });
    try {
      await t.ready;
      await t.subscribe('a.b', () => undefined).ready;
      const second = t.subscribe('c.d', () => undefined).ready.then(() => 'ready');
      const outcome = await Promise.race([
        second,
        new Promise((r) => setTimeout(() => r('timed out'), 3000)),
      ]);
      assert.equal(outcome, 'ready');
    } finally {
      await t.close();
    }
  },
);
