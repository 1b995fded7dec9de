// Training feeds on NATS (127.0.0.1:4222): a 1.5 MiB batch, refused by the durable queue as too
// large, goes by blob reference on its own; two trainers share the shards, each read in order.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { createBus, type Bus } from '../../../src/bus/index.js';
import { createFeed, type FeedBatch, type FeedTrainer } from '../../../src/llm/train/index.js';
import { createMemoryTransport } from '../../../src/transport/memory/index.js';
import { createNatsTransport } from '../../../src/transport/nats/index.js';
import type { Transport } from '../../../src/transport/transport.js';
import { NATS_URL, NEEDS, requires } from '../../helpers/requires.js';
import { deleteStreams } from '../../transport/fixtures/nats-server.js';

if (await requires('feeds on nats', NEEDS.nats)) {
  const prefix = `FN${randomBytes(4).toString('hex')}`;
  const transports: Transport[] = [];
  // This branch's NATS transport keeps no blobs of its own: one memory store stands in.
  const blobs = createMemoryTransport().blobs!();
  const open = async (): Promise<Bus> => {
    const transport = await createNatsTransport({
      servers: NATS_URL,
      streamPrefix: prefix,
      onError: () => {},
    });
    transports.push(transport);
    return createBus({ transport, blobs });
  };
  after(async () => {
    for (const t of transports) await t.close();
    await deleteStreams(NATS_URL, prefix);
  });

  async function take(trainer: FeedTrainer, count: number): Promise<FeedBatch[]> {
    const it = trainer[Symbol.asyncIterator]();
    const out: FeedBatch[] = [];
    while (out.length < count) {
      const r = await it.next();
      if (r.done === true) break;
      out.push(r.value);
      await r.value.commit();
    }
    return out;
  }

  describe('feed on nats', () => {
    test('feed - a 1.5 MiB batch the queue refuses inline goes by blob reference', async () => {
      const bus = await open();
      // inlineMaxBytes above the batch: the queue's own limit is what sends it by reference.
      // Random text, so that compression cannot bring it under the limit.
      const feed = createFeed(bus, { name: 'big', shards: 1, inlineMaxBytes: 8 << 20 });
      const examples = Array.from({ length: 1600 }, (_, i) => ({
        input: `${i} ${randomBytes(768).toString('base64')}`,
      }));
      assert.ok(Buffer.byteLength(JSON.stringify(examples)) > 1.5 * 1024 * 1024);
      const r = await feed.publish({ run: 'r', step: 0, examples });
      assert.ok(r.ref !== undefined, 'sent by reference');
      await using trainer = feed.trainer();
      const [got] = await take(trainer, 1);
      assert.equal(got?.examples.length, 1600);
      assert.deepEqual(got?.examples, examples);
    });

    test('feed - two trainers share the shards, each shard read by one in order', async () => {
      const feed = createFeed(await open(), { name: 'shared', shards: 4, leaseMs: 3000 });
      const published = new Map<number, number[]>();
      for (let step = 0; step < 32; step++) {
        const r = await feed.publish(
          { run: 'r', step, examples: [{ input: step }] },
          { key: `k${step % 8}` },
        );
        published.set(r.shard, [...(published.get(r.shard) ?? []), step]);
      }
      const other = createFeed(await open(), { name: 'shared', shards: 4, leaseMs: 3000 });
      await using a = feed.trainer({ id: 'a', maxShards: 2 });
      await using b = other.trainer({ id: 'b', maxShards: 2 });
      const seen = new Map<number, { who: string; steps: number[] }>();
      let total = 0;
      const run = async (trainer: FeedTrainer, who: string) => {
        for (;;) {
          if (total >= 32) return;
          const [batch] = await take(trainer, 1);
          if (batch === undefined) return;
          const entry = seen.get(batch.shard) ?? { who, steps: [] };
          assert.equal(entry.who, who, `shard ${batch.shard} is read by one trainer`);
          entry.steps.push(batch.step);
          seen.set(batch.shard, entry);
          if (++total >= 32) {
            await a.stop();
            await b.stop();
          }
        }
      };
      await Promise.all([run(a, 'a'), run(b, 'b')]);
      for (const [shard, steps] of published) {
        assert.deepEqual(seen.get(shard)?.steps, steps, `shard ${shard}: all, once, in order`);
      }
      assert.deepEqual(
        [...new Set([...seen.values()].map((e) => e.who))].sort(),
        ['a', 'b'],
        'both trainers held shards',
      );
    });
  });
}
