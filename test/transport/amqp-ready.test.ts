// A subscription made while the channel's setup is finishing (after the first one became ready,
// before the channel became current) is bound too: it once waited forever for a binding nobody
// made. The gateway and the workers subscribe in exactly that order.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createAmqpTransport } from '../../src/transport/amqp/index.js';
import { AMQP_URL as URL, NEEDS, skipUnless } from '../helpers/requires.js';

const broker = await skipUnless('amqp ready', NEEDS.amqp);

test(
  'amqp - a second subscription made after the first is ready becomes ready too',
  { timeout: 20_000, ...broker },
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
