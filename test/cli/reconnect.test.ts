// A long-running command through a broker restart: `llmwire tail` says on stderr when the
// connection is lost, while it reconnects and once it is back, and keeps tailing after it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openTransport } from '../../src/cli/runtime.js';
import { createEnvelope } from '../../src/protocol/index.js';
import { NEEDS, requires } from '../helpers/requires.js';
import { freePort, NatsServerProcess, tempDir } from '../transport/fixtures/nats-server.js';
import { Background } from './helpers.js';

if (await requires('cli tail across a broker restart', NEEDS.natsServer)) {
  test('tail - reports lost, reconnecting and reconnected, and tails again after a broker restart', async () => {
    using store = tempDir('llmwire-cli-nats-');
    await using server = await new NatsServerProcess({
      port: await freePort(),
      storeDir: store.path,
    }).start();
    await using tail = new Background([
      'tail',
      'restart.>',
      '--transport',
      server.url,
      '--count',
      '1',
    ]);
    await tail.until(/tailing restart\.>/);
    await server.kill();
    await tail.until(/connection to nats:\/\/127\.0\.0\.1:\d+ lost|reconnecting to/);
    await tail.until(/reconnecting to nats:\/\/127\.0\.0\.1:\d+ \(attempt \d+\)/);
    await server.start();
    await tail.until(/reconnected to nats:\/\/127\.0\.0\.1:\d+/, 30_000);
    const transport = await openTransport(server.url, { dataDir: '.llmwire' });
    try {
      // Published until it is seen: the broker's subscription table is rebuilt by the client
      // around the reconnect, and what is published before that has no subscriber.
      const ids: string[] = [];
      let exited = false;
      void tail.done.then(() => (exited = true));
      while (!exited) {
        const env = createEnvelope({ kind: 'event', subject: 'restart.after', body: 'back' });
        ids.push(env.id);
        transport.publish(env);
        await transport.flush();
        await new Promise((r) => setTimeout(r, 200));
      }
      const r = await tail.done;
      assert.equal(r.code, 0, r.stderr);
      const [, id] = /event\s+(\S+)\s+restart\.after\s+"back"/.exec(r.stdout) ?? [];
      assert.ok(id !== undefined && ids.includes(id), r.stdout);
    } finally {
      await transport.close();
    }
  });
}

test('up - a RabbitMQ that is not there is reported while it is waited for, not waited for in silence', async () => {
  const port = await freePort(); // nothing listens there
  await using up = new Background([
    'up',
    '--transport',
    `amqp://guest:guest@127.0.0.1:${port}`,
    '--port',
    '0',
  ]);
  await up.until(/"status":"reconnecting"/);
  assert.match(up.stderr, /"transport":"amqp"/);
  assert.equal(up.child.exitCode, null, 'still waiting for the broker');
});
