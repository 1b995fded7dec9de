// Transport URLs of the CLI: llmwire's own settings in the query string reach the transport,
// the broker client's own settings pass through, and bad values are refused with ConfigError.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createBus } from '../../src/bus/index.js';
import { openTransport, splitParams } from '../../src/cli/runtime.js';
import { ConfigError } from '../../src/protocol/index.js';
import { NATS_URL, NEEDS, requires } from '../helpers/requires.js';
import { deleteStreams } from '../transport/fixtures/nats-server.js';

test('transport URL - owned settings are taken out, the rest stays for the client', () => {
  const { base, params } = splitParams(
    'amqp://u:p@h:5672/vh?heartbeat=5&exchange=team%2Ea&prefetch=8',
    ['exchange', 'prefetch'],
  );
  assert.equal(base, 'amqp://u:p@h:5672/vh?heartbeat=5');
  assert.deepEqual(
    [...params],
    [
      ['exchange', 'team.a'],
      ['prefetch', '8'],
    ],
  );
  assert.deepEqual(splitParams('redis://h:6379/2', ['prefix']), {
    base: 'redis://h:6379/2',
    params: new Map(),
  });
});

test('transport URL - bad settings are refused before anything connects', async () => {
  const bad = [
    ['nats://127.0.0.1:1?replicas=0', /'replicas' must be an integer from 1 to 5, got '0'/],
    ['nats://127.0.0.1:1?replicas=two', /'replicas' must be an integer/],
    ['nats://127.0.0.1:1?storage=disk', /storage must be file or memory, got 'disk'/],
    ['nats://127.0.0.1:1?colour=blue', /unknown setting in '\?colour=blue'/],
    ['nats://127.0.0.1:1?prefix=', /'prefix' needs a value/],
    ['amqp://127.0.0.1:1?prefetch=-1', /'prefetch' must be an integer from 1 to 65535/],
  ] as const;
  for (const [url, message] of bad) {
    await assert.rejects(openTransport(url, { dataDir: '.llmwire' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError, `${url}: ${String(err)}`);
      assert.equal(err.code, 'config_invalid');
      assert.match(err.message, message);
      return true;
    });
  }
});

if (await requires('transport URL on nats', NEEDS.nats)) {
  test('transport URL - nats prefix and storage reach the JetStream streams', async () => {
    const prefix = `URLT${randomUUID().replaceAll('-', '').slice(0, 10)}`;
    const transport = await openTransport(
      `${NATS_URL}?prefix=${prefix}&storage=memory&replicas=1`,
      {
        dataDir: '.llmwire',
      },
    );
    const nc = await connect({ servers: NATS_URL });
    try {
      const bus = createBus({ transport });
      await bus.queue('jobs').enqueue({ n: 1 });
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(`${prefix}_Q_jobs`);
      assert.equal(info.config.storage, 'memory');
      assert.equal(info.config.num_replicas, 1);
      await bus.close();
    } finally {
      await transport.close();
      await deleteStreams(NATS_URL, prefix);
      await nc.close();
    }
  });
}
