// Who may use a feed on NATS, where peers reach the broker themselves: with the users
// `llmwire nats-config` writes (src/llm/security/nats-config.ts), on a nats-server of this test's
// own, an operator may publish batches and write checkpoints; a client or a worker may neither
// publish to a feed, consume it, nor write its checkpoint (JetStream is operators' only).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createBus } from '../../../src/bus/index.js';
import { createFeed } from '../../../src/llm/train/index.js';
import { natsAuthorization, natsInboxPrefix } from '../../../src/llm/security/nats-config.js';
import { ForbiddenError } from '../../../src/protocol/index.js';
import { createNatsTransport } from '../../../src/transport/nats/index.js';
import type { Transport } from '../../../src/transport/transport.js';
import { NEEDS, requires } from '../../helpers/requires.js';
import { freePort, NatsServerProcess, tempDir } from '../../transport/fixtures/nats-server.js';

const KEYS = {
  'tenant-a': 'tenant-a-key-0123456789',
  'gpu-1': 'gpu-1-key-0123456789abc',
  ops: 'ops-key-0123456789abcdef',
};

const forbidden = (err: unknown) => {
  assert.ok(err instanceof ForbiddenError, String(err));
  assert.equal(err.code, 'forbidden');
  return true;
};

if (await requires('feed permissions on nats', NEEDS.natsServer)) {
  describe('feed - security on NATS', () => {
    test(
      'feed - client and worker users may not publish, consume or checkpoint',
      { timeout: 60_000 },
      async () => {
        using dir = tempDir('llmwire-feed-nats-sec-');
        const auth = natsAuthorization({
          users: [
            { identity: { name: 'tenant-a', role: 'client' }, password: KEYS['tenant-a'] },
            { identity: { name: 'gpu-1', role: 'worker' }, password: KEYS['gpu-1'] },
            { identity: { name: 'ops', role: 'operator' }, password: KEYS.ops },
          ],
        });
        await using server = await new NatsServerProcess({
          port: await freePort(),
          storeDir: join(dir.path, 'js'),
          config: auth.split('\n'),
        }).start();
        const opened: Transport[] = [];
        const open = async (user: keyof typeof KEYS) => {
          const transport = await createNatsTransport({
            servers: `nats://${user}:${KEYS[user]}@127.0.0.1:${server.port}`,
            inboxPrefix: natsInboxPrefix(user),
            requestTimeoutMs: 2_000,
            onError: () => {},
          });
          opened.push(transport);
          return createBus({ transport, inboxPrefix: natsInboxPrefix(user) });
        };
        try {
          const ops = createFeed(await open('ops'), { name: 'guarded', shards: 1 });
          await ops.publish({ run: 'r', step: 0, examples: [{ input: 'real' }] });
          await ops.setCheckpoint(0, { other: 1 });

          for (const user of ['tenant-a', 'gpu-1'] as const) {
            const feed = createFeed(await open(user), { name: 'guarded', shards: 1 });
            await assert.rejects(
              feed.publish({ run: 'r', step: 1, examples: [{ input: 'forged' }] }),
              forbidden,
              `${user} publishing`,
            );
            await assert.rejects(feed.setCheckpoint(0, { r: 99 }), forbidden, `${user} checkpoint`);
            await assert.rejects(feed.checkpoint(0), forbidden, `${user} reading the checkpoint`);
            await assert.rejects(
              (async () => {
                for await (const b of feed.trainer()) assert.fail(`read ${b.run}@${b.step}`);
              })(),
              forbidden,
              `${user} consuming`,
            );
          }
          // Nothing moved: the operator's batch and checkpoint are as they were.
          assert.deepEqual((await ops.checkpoint(0))?.steps, { other: 1 });
          await using trainer = ops.trainer();
          const got = await trainer[Symbol.asyncIterator]().next();
          if (got.done === true) assert.fail('the batch is there');
          assert.deepEqual(got.value.examples, [{ input: 'real' }]);
          await got.value.commit();
        } finally {
          for (const t of opened) await t.close();
        }
      },
    );
  });
}
