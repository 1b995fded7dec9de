// Who may use a feed on the hub (docs/security.md, "Training feeds"): with the role defaults of
// roles.ts, a client or a worker may neither publish batches to a feed nor consume one (every
// feed queue is refused `forbidden`), and has no checkpoint store to write to; an operator may
// publish, and a trainer beside the hub reads what it published.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createBus } from '../../../src/bus/index.js';
import { createFeed } from '../../../src/llm/train/index.js';
import { feedShardQueue, feedTokenQueue } from '../../../src/llm/train/names.js';
import { peerIdentity, type Identity } from '../../../src/llm/security/roles.js';
import { ConfigError, ForbiddenError } from '../../../src/protocol/index.js';
import { createMemoryTransport } from '../../../src/transport/memory/index.js';
import { startHub } from '../../transport/ws-harness.js';

const ids: Record<string, Identity> = {
  'key-client': { name: 'tenant-a', role: 'client' },
  'key-worker': { name: 'gpu-1', role: 'worker' },
  'key-op': { name: 'ops', role: 'operator' },
};
const authenticate = (token: string | undefined) => {
  const id = token === undefined ? undefined : ids[token];
  return id === undefined ? undefined : peerIdentity(id);
};
const batch = { run: 'r', step: 0, examples: [{ input: 'forged' }] };

describe('feed - security on the hub', () => {
  for (const [token, role] of [
    ['key-client', 'client'],
    ['key-worker', 'worker'],
  ] as const) {
    test(`feed - a ${role} may not publish to, consume, or checkpoint a feed`, async () => {
      await using fx = await startHub({ authenticate });
      const host = createBus({ transport: fx.local, source: 'host' });
      const feed = createFeed(host, { name: 'guarded', shards: 1 });
      await feed.publish({ run: 'r', step: 0, examples: [{ input: 'real' }] });

      const attacker = await fx.remoteBus(`attacker-${role}`, { token });
      const forged = createFeed(attacker, { name: 'guarded', shards: 1 });
      await assert.rejects(forged.publish(batch), ForbiddenError, 'publishing a batch');
      // Reading the shard's queue or the shard tokens by hand.
      for (const queue of [feedShardQueue('guarded', 0), feedTokenQueue('guarded')]) {
        await assert.rejects(
          attacker.queue(queue).durable.receive({ max: 1, waitMs: 0 }),
          ForbiddenError,
          `receiving from ${queue}`,
        );
      }
      // The hub offers no record store: there is nowhere to write a checkpoint.
      assert.throws(() => forged.trainer(), ConfigError);
      await assert.rejects(forged.setCheckpoint(0, { r: 99 }), ConfigError);
      // With a checkpoint store of its own, a trainer still cannot claim a shard.
      const own = createFeed(attacker, {
        name: 'guarded',
        shards: 1,
        records: createMemoryTransport().records!('feeds'),
      });
      await assert.rejects(
        (async () => {
          for await (const b of own.trainer()) assert.fail(`read ${b.run}@${b.step}`);
        })(),
        ForbiddenError,
        'consuming the feed',
      );
      // The batch is untouched and the checkpoint unmoved.
      await using trainer = feed.trainer();
      const it = trainer[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done === true) assert.fail('the real batch is there');
      assert.deepEqual(first.value.examples, [{ input: 'real' }]);
      await first.value.commit();
      assert.deepEqual((await feed.checkpoint(0))?.steps, { r: 0 });
      await host.close();
    });
  }

  test('feed - an operator over the hub may publish batches', async () => {
    await using fx = await startHub({ authenticate });
    const host = createBus({ transport: fx.local, source: 'host' });
    const op = await fx.remoteBus('ops', { token: 'key-op' });
    const r = await createFeed(op, { name: 'ops-feed', shards: 2 }).publish(batch, { key: 'k' });
    await using trainer = createFeed(host, { name: 'ops-feed', shards: 2 }).trainer();
    const got = await trainer[Symbol.asyncIterator]().next();
    if (got.done === true) assert.fail('the batch is there');
    assert.equal(got.value.shard, r.shard);
    assert.equal(got.value.id, r.id);
    await got.value.commit();
    await host.close();
  });
});
