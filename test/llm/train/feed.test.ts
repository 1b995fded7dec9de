// Training feeds in one process, on the memory transport and on the embedded SQLite file: order
// within a shard, sharding across two trainers, checkpoints and skipping, large batches by blob
// reference, a corrupt reference refused, backpressure, and batches given back on stop.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createBus, type Bus } from '../../../src/bus/index.js';
import {
  createFeed,
  shardOfKey,
  type FeedBatch,
  type FeedTrainer,
} from '../../../src/llm/train/index.js';
import { feedShardQueue } from '../../../src/llm/train/names.js';
import {
  ChunkCorruptError,
  createEnvelope,
  InvalidMessageError,
  OverloadedError,
  validateBody,
} from '../../../src/protocol/index.js';
import { createMemoryTransport } from '../../../src/transport/memory/index.js';
import { createSqliteTransport } from '../../../src/transport/sqlite/index.js';
import type { Transport } from '../../../src/transport/transport.js';
import { waitUntil } from '../../wait.js';

interface Setup {
  bus: Bus;
  /** A second bus on the same store (another process would see the same). */
  other(): Bus;
  [Symbol.asyncDispose](): Promise<void>;
}

const memoryBlobs = createMemoryTransport().blobs!();

const TRANSPORTS: Record<string, () => Setup> = {
  memory: () => {
    const transport = createMemoryTransport();
    const bus = createBus({ transport });
    return {
      bus,
      other: () => createBus({ transport }),
      async [Symbol.asyncDispose]() {
        await bus.close();
        await transport.close();
      },
    };
  },
  sqlite: () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmwire-feed-'));
    const path = join(dir, 'bus.db');
    const opened: Transport[] = [];
    const open = () => {
      const transport = createSqliteTransport({ path });
      opened.push(transport);
      // The sqlite transport keeps no blobs of its own here: one memory store stands in.
      return createBus({ transport, blobs: memoryBlobs });
    };
    const bus = open();
    return {
      bus,
      other: open,
      async [Symbol.asyncDispose]() {
        for (const t of opened) await t.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

let n = 0;
const feedName = () => `f${process.pid}x${n++}`;
const examples = (step: number) => [{ input: `text ${step}`, target: step % 2 }];

const iterators = new WeakMap<FeedTrainer, AsyncIterator<FeedBatch>>();

/** Takes `count` batches from a trainer (which keeps running), committing each unless told. */
async function take(trainer: FeedTrainer, count: number, commit = true): Promise<FeedBatch[]> {
  let it = iterators.get(trainer);
  if (it === undefined) iterators.set(trainer, (it = trainer[Symbol.asyncIterator]()));
  const out: FeedBatch[] = [];
  while (out.length < count) {
    const r = await it.next();
    if (r.done === true) break;
    out.push(r.value);
    if (commit) await r.value.commit({ last: r.value.step });
  }
  return out;
}

test('feed - the shard of a key is FNV-1a 32-bit modulo the shards (docs/protocol.md)', () => {
  assert.equal(shardOfKey('a', 2 ** 32 - 1), 0xe40c292c);
  assert.equal(shardOfKey('a', 1000), 220);
  assert.equal(shardOfKey('run-1', 4), 0);
  assert.equal(shardOfKey('', 7), 0x811c9dc5 % 7);
});

test('feed - a training.batch carries inline examples or a blob reference, not both', () => {
  const ref = {
    blob: 'feeds/x/0/a',
    version: 'a',
    sum: `sha256:${'A'.repeat(43)}`,
    size: 9,
    count: 1,
  };
  const env = (body: unknown) =>
    createEnvelope({ kind: 'training.batch', subject: 'feed-x-0', body });
  validateBody(env({ run: 'r', step: 0, examples: [{ input: 1 }] }));
  validateBody(env({ run: 'r', step: 0, ref }));
  assert.throws(
    () => validateBody(env({ run: 'r', step: 0, examples: [{ input: 1 }], ref })),
    InvalidMessageError,
  );
  assert.throws(() => validateBody(env({ run: 'r', step: 0 })), InvalidMessageError);
  assert.throws(
    () => validateBody(env({ run: 'r', step: 0, ref: { ...ref, sum: 'md5:x' } })),
    InvalidMessageError,
  );
});

for (const [name, setup] of Object.entries(TRANSPORTS)) {
  describe(`feed on ${name}`, () => {
    test('feed - a shard is read in publish order and each commit moves its checkpoint', async () => {
      await using s = setup();
      const feed = createFeed(s.bus, { name: feedName(), shards: 1, leaseMs: 2000 });
      for (let step = 0; step < 12; step++) {
        const r = await feed.publish({ run: 'r1', step, examples: examples(step) });
        assert.equal(r.shard, 0);
        assert.equal(r.ref, undefined, 'a small batch goes inline');
      }
      await using trainer = feed.trainer({ id: 't1' });
      const got = await take(trainer, 12);
      assert.deepEqual(
        got.map((b) => b.step),
        [...Array(12).keys()],
      );
      assert.deepEqual(got[5]!.examples, examples(5));
      const cp = await feed.checkpoint(0);
      assert.deepEqual(cp?.steps, { r1: 11 });
      assert.deepEqual(cp?.state, { last: 11 });
      assert.equal(cp?.by, 't1');
      assert.deepEqual(
        (await feed.stats())[0],
        { shard: 0, ready: 0, delayed: 0, leased: 0, dead: 0 },
        'every batch committed is gone from the feed',
      );
    });

    test('feed - two trainers share the shards, each shard read by one in order', async () => {
      await using s = setup();
      const name = feedName();
      const feed = createFeed(s.bus, { name, shards: 4, leaseMs: 2000 });
      const published = new Map<number, string[]>();
      for (let i = 0; i < 40; i++) {
        const key = `source-${i % 8}`;
        const r = await feed.publish({ run: key, step: i, examples: examples(i) }, { key });
        assert.equal(r.shard, feed.shardOf(key));
        published.set(r.shard, [...(published.get(r.shard) ?? []), `${key}/${i}`]);
      }
      assert.ok(published.size >= 2, 'the keys spread over several shards');
      const a = feed.trainer({ id: 'a', maxShards: 2 });
      const b = createFeed(s.other(), { name, shards: 4, leaseMs: 2000 }).trainer({
        id: 'b',
        maxShards: 2,
      });
      const seen = new Map<number, { who: string; items: string[] }>();
      const run = async (trainer: FeedTrainer, who: string) => {
        for await (const batch of trainer) {
          const entry = seen.get(batch.shard) ?? { who, items: [] };
          assert.equal(entry.who, who, `shard ${batch.shard} is read by one trainer`);
          entry.items.push(`${batch.run}/${batch.step}`);
          seen.set(batch.shard, entry);
          await batch.commit();
          const total = [...seen.values()].reduce((k, e) => k + e.items.length, 0);
          if (total >= 40) break;
        }
      };
      const done = Promise.race([run(a, 'a'), run(b, 'b')]);
      await done;
      await a.stop();
      await b.stop();
      for (const [shard, items] of published) {
        assert.deepEqual(seen.get(shard)?.items, items, `shard ${shard}: all, once, in order`);
      }
      const whos = new Set([...seen.values()].map((e) => e.who));
      assert.deepEqual([...whos].sort(), ['a', 'b'], 'both trainers held shards');
    });

    test('feed - a batch at or below the checkpoint is skipped, the rest resume', async () => {
      await using s = setup();
      const feed = createFeed(s.bus, { name: feedName(), shards: 1, leaseMs: 2000 });
      for (let step = 0; step < 6; step++) {
        await feed.publish({ run: 'r', step, examples: examples(step) });
      }
      await feed.publish({ run: 'other', step: 0, examples: examples(0) });
      await feed.setCheckpoint(0, { r: 3 }, { restored: true });
      await using trainer = feed.trainer();
      const got = await take(trainer, 3);
      assert.deepEqual(
        got.map((b) => `${b.run}/${b.step}`),
        ['r/4', 'r/5', 'other/0'],
      );
      assert.deepEqual(got[0]!.checkpoint?.state, { restored: true }, 'the state to resume from');
      assert.deepEqual((await feed.checkpoint(0))?.steps, { r: 5, other: 0 });
    });

    test('feed - a batch read but not committed goes back when its trainer stops', async () => {
      await using s = setup();
      const name = feedName();
      const feed = createFeed(s.bus, { name, shards: 1, leaseMs: 2000 });
      for (let step = 0; step < 3; step++) {
        await feed.publish({ run: 'r', step, examples: examples(step) });
      }
      const first = feed.trainer({ id: 'first' });
      const [b0] = await take(first, 1);
      const [b1] = await take(first, 1, false);
      assert.equal(b0?.step, 0);
      assert.equal(b1?.step, 1);
      await first.stop();
      await assert.rejects(b1.commit(), /already settled/, 'given back on stop');
      await using second = createFeed(s.other(), { name, shards: 1, leaseMs: 2000 }).trainer();
      const again = await take(second, 2);
      assert.deepEqual(
        again.map((b) => b.step),
        [1, 2],
      );
    });

    test('feed - a large batch goes by blob reference and is removed after its commit', async () => {
      await using s = setup();
      const feed = createFeed(s.bus, { name: feedName(), shards: 2, inlineMaxBytes: 4096 });
      const big = Array.from({ length: 3000 }, (_, i) => ({ input: `example ${i} `.repeat(20) }));
      const r = await feed.publish({ run: 'big', step: 7, examples: big });
      assert.ok(r.ref !== undefined, 'sent by reference');
      assert.ok(r.ref.size > 500_000);
      assert.equal(r.ref.count, 3000);
      await using trainer = feed.trainer();
      const [got] = await take(trainer, 1);
      assert.equal(got?.ref?.blob, r.ref.blob);
      assert.deepEqual(got?.examples, big);
      await waitFor(async () => (await s.bus.blobs.list(r.ref!.blob)).length === 0);
    });

    test('feed - a corrupt blob reference is refused with chunk_corrupt and the shard goes on', async () => {
      await using s = setup();
      const errors: unknown[] = [];
      const feed = createFeed(s.bus, {
        name: feedName(),
        shards: 1,
        leaseMs: 2000,
        inlineMaxBytes: 1024,
        onError: (e) => errors.push(e),
      });
      const big = Array.from({ length: 100 }, (_, i) => ({ input: 'x'.repeat(50), target: i }));
      const good = await feed.publish({ run: 'r', step: 0, examples: big });
      // A blob with the same bytes under another name, referenced with another sum: not the
      // blob the batch names.
      const copy = await s.bus.blobs.put('feeds/copy', Buffer.from(JSON.stringify(big)));
      const badRef = {
        ...good.ref!,
        blob: 'feeds/copy',
        version: copy.version,
        sum: `sha256:${'A'.repeat(43)}`,
      };
      await s.bus
        .queue(feedShardQueue(feed.name, 0), { leaseMs: 2000, maxAttempts: 5, maxDepth: 1000 })
        .enqueue({ run: 'r', step: 1, ref: badRef }, { kind: 'training.batch', key: 'shard-0' });
      await feed.publish({ run: 'r', step: 2, examples: examples(2) });
      await using trainer = feed.trainer();
      const got = await take(trainer, 2);
      assert.deepEqual(
        got.map((b) => b.step),
        [0, 2],
      );
      const refused = errors.find((e) => e instanceof ChunkCorruptError);
      assert.ok(refused instanceof ChunkCorruptError, `errors: ${errors.map(String).join('; ')}`);
      assert.equal(refused.code, 'chunk_corrupt');
      const dead = await s.bus.queue(feedShardQueue(feed.name, 0)).deadLetters();
      assert.equal(dead.length, 1);
      assert.equal(dead[0]?.reason, 'rejected');
      assert.equal(dead[0]?.error?.code, 'chunk_corrupt');
    });

    test('feed - publish waits while its shard is full and goes on when a batch is taken', async () => {
      await using s = setup();
      const feed = createFeed(s.bus, { name: feedName(), shards: 1, maxDepth: 2, leaseMs: 2000 });
      await feed.publish({ run: 'r', step: 0, examples: examples(0) });
      await feed.publish({ run: 'r', step: 1, examples: examples(1) });
      await assert.rejects(
        feed.publish({ run: 'r', step: 2, examples: examples(2) }, { waitMs: 200 }),
        OverloadedError,
      );
      let third = false;
      const pending = feed
        .publish({ run: 'r', step: 2, examples: examples(2) })
        .then(() => (third = true));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(third, false, 'the third publish waits for room');
      await using trainer = feed.trainer();
      const got = await take(trainer, 3);
      await pending;
      assert.deepEqual(
        got.map((b) => b.step),
        [0, 1, 2],
      );
    });
  });
}

const waitFor = (check: () => Promise<boolean>, ms = 5000) =>
  waitUntil(check, 'the condition', ms, 20);
